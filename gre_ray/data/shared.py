"""What may cross a Ray boundary: names every node resolves for itself, never a driver's path.

On a cluster every node has its own disk. A task or actor argument, the Ray Train worker
config and a Tune trial spec therefore name data and models in one of three ways:

* a URI (``s3://``, ``gs://``, ``file://`` ...), under ``run.root`` or elsewhere; a
  ``file://`` URI claims that every node sees that path (one machine, NFS);
* a Hugging Face Hub id (``org/name``), which each node fetches into its own Hub cache;
* the name of a model shipped in an installed package (``minilm``, see :mod:`gre_ray.shipped`).

A bare path (``/tmp/x``, ``runs/demo/model``, ``~/m``) is refused by :func:`check_shared`:
it names a folder on the machine that wrote it, which a worker on another node cannot open.
The driver turns its own folders into URIs with :func:`shared_uri`, saying so explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError


def is_uri(text: str) -> bool:
    """Whether ``text`` is a URI (``scheme://...``)."""
    return "://" in text


def is_local_path(text: str) -> bool:
    """Whether ``text`` reads as a path on this machine rather than a URI, Hub id or package name.

    A Hub id has at most one ``/`` and never starts with ``/``, ``.`` or ``~``; anything
    that exists here as a file or folder is a path whatever its shape.
    """
    if not text or is_uri(text):
        return False
    if text.startswith(("/", ".", "~")) or text.count("/") > 1 or (os.sep != "/" and os.sep in text):
        return True
    return Path(text).exists()


def check_shared(value: str, key: str) -> str:
    """Return ``value`` unchanged when every node can resolve it; refuse a driver-local path.

    Args:
        value: a URI, Hub id, shipped model name, or "" (not set).
        key: the field it sits in, for the message.

    Raises:
        ConfigError: ``value`` is a local path not under a URI.
    """
    if is_local_path(value):
        raise ConfigError(
            f"{key}: {value!r} is a path on the driver's machine, which a worker on another node cannot open; "
            "name it by a URI (s3://..., gs://..., or file://... for a folder every node mounts), a Hub id, "
            "or a shipped model name"
        )
    return value


def shared_uri(loc: Location) -> str:
    """A URI every node resolves to ``loc``: its own URI, or ``file://<path>`` for a local folder.

    A ``file://`` URI is only right where the path is the same on every node (a run on one
    machine, a shared mount); a worker that cannot see it fails with that URI in the message.
    """
    return f"file://{loc.path}" if loc.is_local else loc.uri


def model_name(value: str, key: str) -> str:
    """A model setting as it may cross a Ray boundary: a local folder given in the config
    becomes a ``file://`` URI (the user named it, so every node must see it); URIs, Hub ids
    and shipped names are passed on unchanged."""
    if is_local_path(value):
        return shared_uri(Location.of(value))
    return check_shared(value, key)
