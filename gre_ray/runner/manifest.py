"""The ``manifest.json`` every stage leaves beside its outputs, and stage fingerprints.

A stage's fingerprint is a hash of its name and version, its settings, the fingerprints of
the upstream stages it reads and of its external inputs. It is a derivation key: equal
fingerprints mean the same inputs went through the same code with the same settings, so
the output can be reused; any change upstream changes every fingerprint downstream.
Settings that only change speed (a stage's ``speed_settings``) are not part of it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sys
from typing import Any

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, read_json, write_json
from gre_ray.errors import DataError

MANIFEST = "manifest.json"
COMPLETE = "complete"

_VERSIONED = ("gre-ray", "ray", "torch", "transformers", "deepspeed", "pyarrow", "numpy", "pandas", "faiss-cpu")


def stage_fingerprint(
    name: str,
    version: int,
    settings: Any,
    inputs: dict[str, str],
    external: dict[str, str],
    speed: tuple[str, ...] = (),
) -> str:
    """Hash of everything that determines a stage's output.

    Args:
        speed: dotted keys of ``settings`` that change how fast the stage runs but not what
            it writes (actor counts, batch and token budgets, concurrency); they are left
            out, so tuning them reruns nothing.
    """
    payload = {
        "stage": name,
        "version": version,
        "settings": content_settings(settings, speed),
        "inputs": dict(sorted(inputs.items())),
        "external": dict(sorted(external.items())),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_settings(settings: Any, speed: tuple[str, ...]) -> Any:
    """``settings`` as plain data without the ``speed`` keys (dotted, e.g. ``selection.chunk_size``)."""
    plain = to_dict(settings)
    for key in speed:
        *parents, leaf = key.split(".")
        node = plain
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise KeyError(f"speed setting {key!r} is not a key of the stage's settings")
        del node[leaf]
    return plain


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour shapes the outputs."""
    versions = {"python": platform.python_version(), "platform": sys.platform}
    for dist in _VERSIONED:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def read_manifest(stage_dir: Location) -> dict[str, Any] | None:
    """The manifest of a completed stage folder, or None when the folder holds no complete output."""
    loc = stage_dir / MANIFEST
    if not loc.exists():
        return None
    try:
        manifest = read_json(loc)
    except DataError:
        return None
    if not isinstance(manifest, dict) or manifest.get("status") != COMPLETE:
        return None
    return manifest


def write_manifest(stage_dir: Location, manifest: dict[str, Any]) -> None:
    write_json(stage_dir / MANIFEST, manifest)
