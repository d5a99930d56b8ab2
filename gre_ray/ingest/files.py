"""Reading raw files in independent chunks, line by line, keeping each line's number.

Why not ``ray.data.read_json``: a reader that parses whole blocks fails a block on one
bad line and forgets where each row came from; quarantine needs the file and the line.
Here a file is cut into chunks that tasks read in parallel, and every line keeps its
number within its chunk; the driver turns those into line numbers within the file from
the line count each chunk reports (:func:`line_offsets`).

* An uncompressed file is cut into byte ranges. A chunk owns every line that *starts*
  inside its range: it skips the partial line at its start (the previous chunk owns it)
  and finishes the line that crosses its end.
* A ``.gz`` file cannot be entered in the middle; it is one chunk, decompressed as a
  stream (all gzip members). A file cut short yields its complete lines and then the
  partial line flagged as truncated, so the loss is counted instead of crashing the read.
* A Parquet file (generic adapter) is cut by row groups; a row's "line" is its row number.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from gre_ray.data.storage import Location
from gre_ray.ingest.formats import RecordFormat, Syntax

READ_BYTES = 1 << 22


@dataclass(frozen=True)
class SourceFile:
    """One raw file of a dataset.

    Attributes:
        index: position among the dataset's files (orders rows across files).
        role: ``interactions`` or ``items``.
        uri: where to open it (a local path or a URI).
        display: the name written into quarantine rows (relative to the data root).
        fmt: how its lines decode.
        size: bytes, for planning.
        release: which published release of the format was recognised (empty: the only one).
    """

    index: int
    role: str
    uri: str
    display: str
    fmt: RecordFormat
    size: int
    release: str = ""

    @property
    def gzip(self) -> bool:
        """Whether the file is gzip-compressed, judged by its name: an object store URI may end in
        a query (``?endpoint_override=...``) that is not part of the name."""
        name = urlsplit(self.uri).path if "://" in self.uri else self.uri
        return name.endswith(".gz")


@dataclass(frozen=True)
class Chunk:
    """A part of a file that one task reads.

    Attributes:
        file: the file.
        index: position of the chunk in the file.
        start: first byte (row for Parquet).
        end: byte (row) after the range.
        columns: column names of delimited records, read from the header at planning.
        skip_header: the chunk's first line is the header, not a record.
        line_offset: lines before the chunk when known at planning (Parquet, first chunks).
    """

    file: SourceFile
    index: int
    start: int
    end: int
    columns: tuple[str, ...] = ()
    skip_header: bool = False
    line_offset: int | None = None


@dataclass(frozen=True)
class LineBlock:
    """Consecutive raw lines of a chunk; ``first_line`` is the chunk-local number (1-based) of the first."""

    first_line: int
    lines: list[bytes]
    damage: str | None = None  # ``truncated_gzip``/``corrupt_gzip``: the one line is what was left


def plan_chunks(file: SourceFile, chunk_bytes: int, columns: tuple[str, ...] = ()) -> list[Chunk]:
    """Cut ``file`` into chunks of about ``chunk_bytes`` (one chunk for ``.gz``)."""
    if file.fmt.syntax is Syntax.PARQUET:
        import pyarrow.parquet as pq

        loc = Location.of(file.uri)
        meta = pq.ParquetFile(loc.fs.open_input_file(loc.path)).metadata
        chunks, row = [], 0
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            chunks.append(Chunk(file, i, row, row + n, line_offset=row))
            row += n
        return chunks or [Chunk(file, 0, 0, 0, line_offset=0)]
    if file.gzip or file.size <= chunk_bytes:
        return [Chunk(file, 0, 0, file.size, columns, file.fmt.header, 0)]
    starts = list(range(0, file.size, chunk_bytes))
    return [
        Chunk(file, i, s, min(s + chunk_bytes, file.size), columns, file.fmt.header and i == 0, 0 if i == 0 else None)
        for i, s in enumerate(starts)
    ]


def first_line(file: SourceFile) -> bytes:
    """The first line of a file (its header), decompressed when needed."""
    try:
        for block in _chunk_lines(Chunk(file, 0, 0, file.size)):
            if block:
                return block[0]
    except _Truncated as cut:
        return cut.partial
    return b""


def iter_blocks(chunk: Chunk, block_lines: int) -> Iterator[LineBlock]:
    """The lines of ``chunk`` in blocks of at most ``block_lines``, numbered from 1 within the chunk."""
    pending: list[bytes] = []
    next_line = 1
    try:
        for lines in _chunk_lines(chunk):
            pending.extend(lines)
            while len(pending) >= block_lines:
                yield LineBlock(next_line, pending[:block_lines])
                next_line += block_lines
                pending = pending[block_lines:]
    except _Truncated as cut:
        if pending:
            yield LineBlock(next_line, pending)
            next_line += len(pending)
        yield LineBlock(next_line, [cut.partial], damage=cut.reason)
        return
    if pending:
        yield LineBlock(next_line, pending)


class _Truncated(Exception):
    def __init__(self, partial: bytes, reason: str) -> None:
        super().__init__(reason)
        self.partial = partial
        self.reason = reason


def _chunk_lines(chunk: Chunk) -> Iterator[list[bytes]]:
    loc = Location.of(chunk.file.uri)
    if chunk.file.gzip:
        with loc.fs.open_input_stream(loc.path, compression=None) as stream:
            yield from _gzip_lines(stream)
    else:
        with loc.fs.open_input_file(loc.path) as handle:
            yield from _range_lines(handle, chunk.start, chunk.end)


class _Damaged(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _gzip_data(stream: pafs.NativeFile) -> Iterator[bytes]:
    """Decompressed bytes of a (multi-member) gzip stream; raises _Damaged where it is cut short or corrupt."""
    inflater = zlib.decompressobj(wbits=47)
    fed = False  # whether the current member has received input (a finished file ends on a fresh one)
    while True:
        raw = stream.read(READ_BYTES)
        if not raw:
            break
        while raw:
            try:
                data = inflater.decompress(raw)
            except zlib.error:
                raise _Damaged("corrupt_gzip") from None
            fed = True
            raw = b""
            if inflater.eof:
                raw = inflater.unused_data
                inflater, fed = zlib.decompressobj(wbits=47), False
            if data:
                yield data
    if fed and not inflater.eof:
        raise _Damaged("truncated_gzip")


def _gzip_lines(stream: pafs.NativeFile) -> Iterator[list[bytes]]:
    """Lines of a (multi-member) gzip stream; raises _Truncated with the partial line if it is damaged."""
    carry = b""
    try:
        for data in _gzip_data(stream):
            parts = (carry + data).split(b"\n")
            carry = parts.pop()
            if parts:
                yield parts
    except _Damaged as damage:
        raise _Truncated(carry, damage.reason) from None
    if carry:
        yield [carry]


@dataclass(frozen=True)
class Piece:
    """A run of whole lines cut from a decompressed ``.gz`` file, parsed by its own task.

    Attributes:
        index: position in the file (becomes the chunk index of its rows).
        data: the lines, each ending in a newline except possibly the file's last.
        damage: ``truncated_gzip``/``corrupt_gzip`` when the file ends damaged after this piece.
        partial: what was left of the damaged line.
    """

    index: int
    data: bytes
    damage: str | None = None
    partial: bytes = b""


def gzip_pieces(file: SourceFile, piece_bytes: int) -> Iterator[Piece]:
    """Cut a ``.gz`` file, decompressed as a stream, into pieces of about ``piece_bytes`` whole lines.

    One task streams the file through this while other tasks parse the pieces, so the
    parsing of one large compressed file spreads over the workers; a piece is cut at the
    last newline past ``piece_bytes``, so lines keep their numbers (piece by piece).
    """
    loc = Location.of(file.uri)
    blocks: list[bytes] = []
    held = 0
    index = 0
    with loc.fs.open_input_stream(loc.path, compression=None) as stream:
        try:
            for data in _gzip_data(stream):
                blocks.append(data)
                held += len(data)
                cut = data.rfind(b"\n") + 1 if held >= piece_bytes else 0
                if cut:
                    yield Piece(index, b"".join(blocks[:-1]) + data[:cut])
                    blocks, held, index = [data[cut:]], len(data) - cut, index + 1
        except _Damaged as damage:
            rest = b"".join(blocks)
            cut = rest.rfind(b"\n") + 1
            yield Piece(index, rest[:cut], damage.reason, rest[cut:])
            return
    if held or index == 0:
        yield Piece(index, b"".join(blocks))


def piece_blocks(piece: Piece, block_lines: int) -> Iterator[LineBlock]:
    """The lines of ``piece`` in blocks of at most ``block_lines``, as :func:`iter_blocks` numbers them."""
    lines = piece.data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for start in range(0, len(lines), block_lines):
        yield LineBlock(start + 1, lines[start : start + block_lines])
    if piece.damage:
        yield LineBlock(len(lines) + 1, [piece.partial], damage=piece.damage)


def _range_lines(handle: pafs.NativeFile, start: int, end: int) -> Iterator[list[bytes]]:
    """Lines starting inside [start, end) of a seekable file."""
    pos = 0
    if start > 0:
        handle.seek(start - 1)
        pos = start - 1
        while True:
            data = handle.read(1 << 16)
            if not data:
                return
            newline = data.find(b"\n")
            if newline >= 0:
                pos += newline + 1
                handle.seek(pos)
                break
            pos += len(data)
    remaining = end - pos
    carry = b""
    while remaining > 0:
        data = handle.read(min(READ_BYTES, remaining))
        if not data:
            break
        remaining -= len(data)
        parts = (carry + data).split(b"\n")
        carry = parts.pop()
        if parts:
            yield parts
    if carry:
        while True:
            data = handle.read(1 << 16)
            if not data:
                break
            newline = data.find(b"\n")
            if newline >= 0:
                carry += data[:newline]
                break
            carry += data
        yield [carry]
