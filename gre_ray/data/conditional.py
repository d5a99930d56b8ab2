"""Conditional writes of one small object: create it only if absent, replace or delete it only if unchanged.

These are the storage primitives of the run lease (:mod:`gre_ray.runner.lease`). Every
object carries a *tag* that changes with each write; a caller that read tag ``t`` can
replace or delete the object only while it still has tag ``t``, so two writers racing for
one object cannot both win (compare-and-swap).

How each store provides them:

- **Local disk** (and NFS with working ``flock``): each change runs under an exclusive
  ``fcntl.flock`` on the object's folder and writes through a temporary file
  and ``os.replace``, so readers never see half an object. The tag is the SHA-256 of
  the bytes.
- **S3 and S3-compatible stores**: ``PutObject`` with ``If-None-Match: *`` (create) and
  ``If-Match: <etag>`` (replace), ``DeleteObject`` with ``If-Match``, through boto3:
  pyarrow's S3 filesystem does not expose these headers. The tag is the ETag. AWS S3
  has honoured these conditions since 2024; MinIO and moto do too.
- **Any other pyarrow filesystem** (GCS through pyarrow, in-memory test stores): there is
  no conditional write, so each operation checks, writes, and reads back what it wrote.
  Two writers can still both win inside the few milliseconds between check and write;
  :func:`is_atomic` says so, and the lease logs it once per store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow.fs as pafs

from gre_ray.data.storage import Location

log = logging.getLogger("gre_ray")


@dataclass(frozen=True)
class Versioned:
    """The bytes of an object and the tag that names this version of it."""

    data: bytes
    tag: str


def is_atomic(loc: Location) -> bool:
    """Whether the conditional operations on ``loc``'s store are atomic (local disk, S3)."""
    return loc.is_local or _is_s3(loc)


def read(loc: Location) -> Versioned | None:
    """The object at ``loc`` with its tag, or None when there is none."""
    if _is_s3(loc):
        return _S3(loc).read()
    try:
        with loc.fs.open_input_stream(loc.path) as stream:
            data = stream.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError:
        if loc.exists():
            raise
        return None
    return Versioned(data, _digest(data))


def create(loc: Location, data: bytes) -> str | None:
    """Write ``data`` to ``loc`` only if no object is there; its tag, or None when one was."""
    if _is_s3(loc):
        return _S3(loc).put(data, if_none_match=True)
    if loc.is_local:
        with _guard(loc):
            if os.path.lexists(loc.path):
                return None
            _write_local(loc, data)
            return _digest(data)
    if loc.exists():
        return None
    return _write_and_check(loc, data)


def replace(loc: Location, data: bytes, tag: str) -> str | None:
    """Overwrite the object at ``loc`` only while its tag is ``tag``; the new tag, or None."""
    if _is_s3(loc):
        return _S3(loc).put(data, if_match=tag)
    if loc.is_local:
        with _guard(loc):
            current = read(loc)
            if current is None or current.tag != tag:
                return None
            _write_local(loc, data)
            return _digest(data)
    current = read(loc)
    if current is None or current.tag != tag:
        return None
    return _write_and_check(loc, data)


def delete(loc: Location, tag: str) -> bool:
    """Delete the object at ``loc`` only while its tag is ``tag``; whether it was deleted."""
    if _is_s3(loc):
        return _S3(loc).delete(tag)
    if loc.is_local:
        with _guard(loc):
            current = read(loc)
            if current is None or current.tag != tag:
                return False
            os.remove(loc.path)
            return True
    current = read(loc)
    if current is None or current.tag != tag:
        return False
    loc.fs.delete_file(loc.path)
    return True


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_s3(loc: Location) -> bool:
    return isinstance(loc.fs, pafs.S3FileSystem)


@contextlib.contextmanager
def _guard(loc: Location) -> Iterator[None]:
    """An exclusive ``flock`` on the object's folder, held while an object on local disk changes."""
    folder = os.path.dirname(loc.path)
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_local(loc: Location, data: bytes) -> None:
    tmp = f"{loc.path}.{os.getpid()}.partial"
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, loc.path)


def _write_and_check(loc: Location, data: bytes) -> str | None:
    """Write, then read back: None when another writer's bytes are there instead."""
    loc.parent.mkdir()
    with loc.fs.open_output_stream(loc.path) as stream:
        stream.write(data)
    back = read(loc)
    return back.tag if back is not None and back.data == data else None


_CLIENTS: dict[str, Any] = {}


def _s3_client(fs: pafs.S3FileSystem) -> Any:
    """A boto3 S3 client with the credentials, region and endpoint of ``fs`` (one per set of options)."""
    import boto3
    import botocore
    import botocore.config

    _, (options,) = fs.__reduce__()  # the S3FileSystem's constructor options
    key = repr(sorted(options.items()))
    if key not in _CLIENTS:
        logging.getLogger("botocore.credentials").setLevel(logging.WARNING)  # "Found credentials in ..."
        endpoint = options.get("endpoint_override") or None
        if endpoint and "://" not in endpoint:
            endpoint = f"{options.get('scheme') or 'https'}://{endpoint}"
        _CLIENTS[key] = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=options.get("region") or None,
            aws_access_key_id=options.get("access_key") or None,
            aws_secret_access_key=options.get("secret_key") or None,
            aws_session_token=options.get("session_token") or None,
            config=botocore.config.Config(
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version=botocore.UNSIGNED if options.get("anonymous") else None,
            ),
        )
    return _CLIENTS[key]


class _S3:
    """Conditional requests on one S3 key, with the credentials and endpoint of ``loc``'s filesystem."""

    def __init__(self, loc: Location) -> None:
        self.client = _s3_client(loc.fs)
        self.bucket, _, self.key = loc.path.partition("/")

    def read(self) -> Versioned | None:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None
        return Versioned(reply["Body"].read(), reply["ETag"])

    def put(self, data: bytes, *, if_none_match: bool = False, if_match: str = "") -> str | None:
        condition = {"IfNoneMatch": "*"} if if_none_match else {"IfMatch": if_match}
        try:
            return self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, **condition)["ETag"]
        except self.client.exceptions.ClientError as exc:
            if _lost_race(exc):
                return None
            raise

    def delete(self, tag: str) -> bool:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=tag)
        except self.client.exceptions.ClientError as exc:
            if _lost_race(exc):
                return False
            raise
        return True


def _lost_race(exc: Exception) -> bool:
    """Whether an S3 error means the condition failed (another writer was first)."""
    error = getattr(exc, "response", {}).get("Error", {})
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    # 412: the condition failed; 409: a concurrent conditional write to the key is in flight
    return error.get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or status in (409, 412)
