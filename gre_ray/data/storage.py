"""Files on a local path or any URI that ``pyarrow.fs`` understands (``s3://``, ``gs://``, ``file://``).

Stages never touch ``os`` or ``open`` directly for their outputs: they go through a
:class:`Location`, so the run folder works the same on a laptop and on cloud storage.
Reads of contract tables go through :func:`read_table`, which validates them.

Object stores differ from a disk in two ways handled here. A store that cannot be reached
(no credentials, wrong endpoint) is found on the first :meth:`Location.of` of its bucket,
with a short timeout, and reported as one :class:`DataError` line instead of minutes of
retries. S3 and GCS cannot rename a folder, so :meth:`Location.move_to` copies it file by
file in the order the files were written, so that a completion marker written last (the
runner's ``manifest.json``) also arrives last.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gre_ray.data.schema import Contract, validate_table
from gre_ray.errors import DataError


@dataclass(frozen=True)
class Location:
    """A path on a filesystem: what ``pyarrow.fs.FileSystem.from_uri`` returns, kept together.

    ``query`` keeps the options of the URI it came from (``?endpoint_override=...&region=...``)
    so that :attr:`uri` hands Ray Train and Tune the same store, not a default one.
    """

    fs: pafs.FileSystem
    path: str
    query: str = ""

    @staticmethod
    def of(uri_or_path: str | Path) -> "Location":
        """Resolve a local path (made absolute) or a URI such as ``s3://bucket/run``.

        Raises:
            DataError: the URI names an unknown scheme, or a store that cannot be reached
                with the credentials at hand (checked once per bucket and process).
        """
        text = str(uri_or_path)
        if "://" in text:
            try:
                fs, path = pafs.FileSystem.from_uri(text)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
                reason = f"{_one_line(exc)}{_hint(None, text)}"
                raise DataError(f"cannot open storage {_redact(text)!r}: {reason}") from None
            loc = Location(fs, path.rstrip("/"), urlsplit(text).query)
            _check_reachable(loc, text)
            return loc
        return Location(pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def uri(self) -> str:
        """A string that :meth:`of` resolves back to this location (for logs, manifests, Ray Train/Tune)."""
        if self.is_local:
            return self.path
        scheme = _scheme(self.fs)
        text = f"{scheme}://{self.path}" if scheme in ("s3", "gs") else f"{scheme}:///{self.path.lstrip('/')}"
        return f"{text}?{self.query}" if self.query else text

    def __truediv__(self, name: str) -> "Location":
        return self._at(posixpath.join(self.path, name))

    def _at(self, path: str) -> "Location":
        """Another path on the same store, with the same URI options."""
        return Location(self.fs, path, self.query)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def parent(self) -> "Location":
        return self._at(posixpath.dirname(self.path))

    def exists(self) -> bool:
        return self.fs.get_file_info(self.path).type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self.fs.get_file_info(self.path).type == pafs.FileType.Directory

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def remove(self) -> None:
        """Delete this file or folder if it exists."""
        info = self.fs.get_file_info(self.path)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif info.type != pafs.FileType.NotFound:
            self.fs.delete_file(self.path)

    def move_to(self, dest: "Location") -> None:
        """Rename (atomic on a local filesystem; copy-then-delete on object stores).

        S3 and GCS refuse to rename a folder; there the folder is copied file by file,
        files in subfolders first and the folder's own files last, each group in the order
        the files were written, and then deleted.
        """
        try:
            self.fs.move(self.path, dest.path)
        except (OSError, pa.ArrowNotImplementedError):
            if self.is_local or not self.is_dir():
                raise
            self._copy_folder(dest)
            self.remove()

    def _copy_folder(self, dest: "Location") -> None:
        def order(info: pafs.FileInfo) -> tuple:
            top_level = posixpath.dirname(info.path) == self.path
            return (top_level, info.mtime_ns or 0, info.path)

        made: set[str] = set()
        for info in sorted(self.files(), key=order):
            target = posixpath.join(dest.path, posixpath.relpath(info.path, self.path))
            parent = posixpath.dirname(target)
            if parent not in made:
                self.fs.create_dir(parent, recursive=True)
                made.add(parent)
            self.fs.copy_file(info.path, target)

    def children(self) -> list["Location"]:
        if not self.is_dir():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        return [self._at(info.path) for info in sorted(infos, key=lambda i: i.path)]

    def files(self) -> list[pafs.FileInfo]:
        """All files below this folder, sorted by path."""
        if not self.is_dir():
            return [self.fs.get_file_info(self.path)] if self.exists() else []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=True))
        return sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)

    def read_text(self) -> str:
        with self.fs.open_input_stream(self.path) as stream:
            return stream.read().decode("utf-8")

    def write_text(self, text: str) -> None:
        """Write a small file atomically where the filesystem allows it (write, then rename)."""
        self.parent.mkdir()
        tmp = self._at(self.path + ".partial")
        with self.fs.open_output_stream(tmp.path) as stream:
            stream.write(text.encode("utf-8"))
        tmp.move_to(self)


# Stores checked by Location.of in this process: scheme://bucket?options.
_REACHABLE: set[str] = set()
_PROBE_S3_ATTEMPTS = 2
_PROBE_TIMEOUT_S = 5


def _check_reachable(loc: Location, uri: str) -> None:
    """Fail fast, in one line, when the store behind ``uri`` cannot be reached.

    The probe (one ``get_file_info``) runs on a copy of the filesystem with short timeouts
    and few retries, so missing credentials or a dead endpoint surface in seconds; the
    returned location keeps the patient defaults for the real work.
    """
    if loc.is_local:
        return
    parts = urlsplit(uri)
    key = f"{parts.scheme}://{parts.hostname or ''}?{parts.query}"
    if key in _REACHABLE:
        return
    try:
        _fail_fast(loc.fs).get_file_info(loc.path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot reach storage {_redact(uri)!r}: {_one_line(exc)}{_hint(loc.fs, uri)}") from None
    _REACHABLE.add(key)


def _fail_fast(fs: pafs.FileSystem) -> pafs.FileSystem:
    """A copy of an S3 or GCS filesystem that gives up after seconds, not minutes."""
    scheme = _scheme(fs)
    if scheme not in ("s3", "gs"):
        return fs
    rebuild, (options,) = fs.__reduce__()  # the constructor options, as pickling uses them
    if scheme == "s3":
        options = {
            **options,
            "connect_timeout": _PROBE_TIMEOUT_S,
            "request_timeout": 4 * _PROBE_TIMEOUT_S,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=_PROBE_S3_ATTEMPTS),
        }
    else:  # GCS retries for up to 15 minutes by default
        options = {**options, "retry_time_limit": datetime.timedelta(seconds=_PROBE_TIMEOUT_S)}
    return rebuild(options)


def _scheme(fs: pafs.FileSystem) -> str:
    return {"S3FileSystem": "s3", "GcsFileSystem": "gs"}.get(type(fs).__name__, fs.type_name)


def _hint(fs: pafs.FileSystem | None, uri: str) -> str:
    """Where to look when a store cannot be opened: its credentials, by scheme."""
    scheme = _scheme(fs) if fs is not None else urlsplit(uri).scheme
    if scheme == "s3":
        return (
            "; check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the node's "
            "instance role), the bucket and the endpoint"
        )
    if scheme in ("gs", "gcs"):
        return (
            "; check the Google credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default "
            "login` or the VM's service account) and the bucket"
        )
    return ""


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _redact(uri: str) -> str:
    """``uri`` without a ``user:secret@`` part, for messages."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def write_json(loc: Location, obj: Any) -> None:
    loc.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(loc: Location) -> Any:
    try:
        return json.loads(loc.read_text())
    except FileNotFoundError:
        raise DataError(f"{loc.uri}: file does not exist") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{loc.uri}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


def write_table(table: pa.Table, loc: Location, *, max_rows_per_file: int = 1_000_000) -> None:
    """Write ``table`` as a folder of Parquet files ``part-00000.parquet``, ... under ``loc``."""
    loc.mkdir()
    n = max(1, -(-table.num_rows // max_rows_per_file))
    for i in range(n):
        part = table.slice(i * max_rows_per_file, max_rows_per_file)
        pq.write_table(part, (loc / f"part-{i:05d}.parquet").path, filesystem=loc.fs, compression="zstd")


def read_table(loc: Location, contract: Contract | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file or folder, validated against ``contract`` when one is given.

    Raises:
        DataError: the path does not exist, is not Parquet, or breaks the contract;
            the message names the file.
    """
    if not loc.exists():
        raise DataError(f"{loc.uri}: file or folder does not exist")
    try:
        table = pq.read_table(loc.path, filesystem=loc.fs, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{loc.uri}: cannot read as Parquet: {exc}") from None
    if contract is not None:
        table = validate_table(table, contract, source=loc.uri)
    return table


def fingerprint_files(loc: Location, *, content: bool = False) -> str:
    """A short hash identifying the files under ``loc``.

    By default it hashes each file's relative path, size and modification time, which is
    cheap on object stores and catches every rewrite; ``content=True`` hashes the bytes
    (for model weights, where the same name may hold a new checkpoint).
    """
    digest = hashlib.sha256()
    if not loc.exists():
        raise DataError(f"{loc.uri}: input does not exist")
    for info in loc.files():
        rel = posixpath.relpath(info.path, loc.path) if loc.is_dir() else posixpath.basename(info.path)
        digest.update(f"{rel}\0{info.size}\0".encode())
        if content:
            with loc.fs.open_input_stream(info.path) as stream:
                while chunk := stream.read(1 << 22):
                    digest.update(chunk)
        else:
            digest.update(str(info.mtime_ns).encode())
    return digest.hexdigest()[:16]
