"""A node-local cache of model folders kept in storage: downloaded once per node, keyed by content.

A model named by a URI (the ``backbone`` or ``model`` artifact under an ``s3://`` run root,
a folder on ``gs://``) is resolved by each worker on its own node: the first worker of a
node downloads it, every later worker (and every later stage) on that node reuses the copy.

Layout of the cache (``$GRE_RAY_MODEL_CACHE``, else ``~/.cache/gre_ray/models``)::

    <root>/<content>/            the folder, named by the hash of its files' bytes
    <root>/by-listing/<listing>  which <content> a listing (paths, sizes, modification
                                 times of the remote files) downloaded to
    <root>/downloads.log         one line per download: what this node fetched, and when

The listing is what can be read without downloading; it changes whenever a file is
rewritten (object stores keep modification times to the second), so a new checkpoint
under an old name is fetched again, while two URIs holding the same bytes share one folder.
A file lock serialises the workers of a node, so two training workers starting together
download once. A ``file://`` URI is not copied: it
names a folder every node already sees.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import posixpath
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

from gre_ray.data.storage import Location, fingerprint_files
from gre_ray.errors import ConfigError

CACHE_ENV = "GRE_RAY_MODEL_CACHE"
LISTINGS = "by-listing"
LOG = "downloads.log"
COMPLETE = ".complete"  # a dot file: model fingerprints skip it


def cache_root() -> Path:
    """This node's model cache folder."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gre_ray" / "models")


def listing_key(loc: Location) -> str:
    """Hash of the folder's place and of the relative paths, sizes and modification times of its files.

    Raises:
        ConfigError: nothing is stored there.
    """
    files = loc.files()
    if not files:
        raise ConfigError(f"model {loc.uri}: no files there (not a model folder)")
    digest = hashlib.sha256(f"{loc.fs.type_name}\0{loc.path}\0".encode())
    for info in files:
        digest.update(f"{posixpath.relpath(info.path, loc.path)}\0{info.size}\0{info.mtime_ns}\0".encode())
    return digest.hexdigest()[:20]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_model(uri: str, root: Path | None = None) -> Path:
    """The local folder of the model stored at ``uri``, downloaded on this node's first use.

    Args:
        uri: a folder in storage (``s3://...``, ``gs://...``, ``file://...``).
        root: the cache folder (default: :func:`cache_root`).

    Returns:
        ``<root>/<content hash>``, or the path itself for a ``file://`` URI.

    Raises:
        ConfigError: nothing is stored at ``uri``.
        DataError: the store cannot be reached.
    """
    loc = Location.of(uri)
    if loc.is_local:
        return Path(loc.path)
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    listing = listing_key(loc)
    index = root / LISTINGS / listing
    with _locked(root / f".lock-{listing}"):
        if index.is_file():
            folder = root / index.read_text().strip()
            if (folder / COMPLETE).is_file():
                return folder
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
        try:
            pafs.copy_files(loc.path, str(tmp), source_filesystem=loc.fs,
                            destination_filesystem=pafs.LocalFileSystem())
            content = fingerprint_files(Location.of(tmp), content=True)
            folder = root / content
            with _locked(root / f".lock-{content}"):
                if not (folder / COMPLETE).is_file():
                    shutil.rmtree(folder, ignore_errors=True)
                    (tmp / COMPLETE).write_text(f"{loc.uri}\n")
                    tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        index.parent.mkdir(exist_ok=True)
        index.write_text(content + "\n")
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with (root / LOG).open("a", encoding="utf-8") as log:
            log.write(f"{stamp} {content} {loc.uri}\n")
    return folder
