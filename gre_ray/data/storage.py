"""Files on a local path or any URI that ``pyarrow.fs`` understands (``s3://``, ``gs://``, ``file://``).

Stages never touch ``os`` or ``open`` directly for their outputs: they go through a
:class:`Location`, so the run folder works the same on a laptop and on cloud storage.
Reads of contract tables go through :func:`read_table`, which validates them.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gre_ray.data.schema import Contract, validate_table
from gre_ray.errors import DataError


@dataclass(frozen=True)
class Location:
    """A path on a filesystem: what ``pyarrow.fs.FileSystem.from_uri`` returns, kept together."""

    fs: pafs.FileSystem
    path: str

    @staticmethod
    def of(uri_or_path: str | Path) -> "Location":
        """Resolve a local path (made absolute) or a URI such as ``s3://bucket/run``."""
        text = str(uri_or_path)
        if "://" in text:
            try:
                fs, path = pafs.FileSystem.from_uri(text)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
                raise DataError(f"cannot open storage {text!r}: {exc}") from None
            return Location(fs, path.rstrip("/"))
        return Location(pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def uri(self) -> str:
        """A string that :meth:`of` resolves back to this location (for logs and manifests)."""
        if self.is_local:
            return self.path
        scheme = {"S3FileSystem": "s3", "GcsFileSystem": "gs"}.get(type(self.fs).__name__)
        return f"{scheme}://{self.path}" if scheme else f"{self.fs.type_name}://{self.path}"

    def __truediv__(self, name: str) -> "Location":
        return Location(self.fs, posixpath.join(self.path, name))

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def parent(self) -> "Location":
        return Location(self.fs, posixpath.dirname(self.path))

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
        """Rename (atomic on a local filesystem; copy-then-delete on object stores)."""
        self.fs.move(self.path, dest.path)

    def children(self) -> list["Location"]:
        if not self.is_dir():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        return [Location(self.fs, info.path) for info in sorted(infos, key=lambda i: i.path)]

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
        tmp = Location(self.fs, self.path + ".partial")
        with self.fs.open_output_stream(tmp.path) as stream:
            stream.write(text.encode("utf-8"))
        tmp.move_to(self)


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
