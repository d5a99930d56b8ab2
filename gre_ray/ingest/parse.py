"""Parsing one chunk of a raw file into staging blocks: rows, quarantined lines, a line count.

This is the function the ingest tasks run over chunks (:func:`parse_to_staging`, scheduled
by :mod:`gre_ray.wiring.ingest_tasks`); it is pure and runs as well in a test on a tmp file. Every line ends up in exactly one place: a
parsed row (or several, for Steam's per-user lists), a quarantine row with its reason,
a blank-line count, or the header. The last block of a chunk is a one-row summary
(``kind = CHUNK_END``) carrying the chunk's line count, from which the driver computes
each chunk's first line number in its file (:func:`gre_ray.ingest.staging.line_offsets`).

All blocks share :data:`STAGING_SCHEMA`, so interaction and item rows of one dataset go
through one Ray Data pipeline into one staging folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from gre_ray.errors import DataError
from gre_ray.ingest.adapters import get_adapter
from gre_ray.ingest.clean import clean_text
from gre_ray.ingest.config import AdapterName, TextSettings
from gre_ray.ingest.files import Chunk, Piece, iter_blocks, piece_blocks
from gre_ray.ingest.formats import Syntax, decode_record, decode_text
from gre_ray.ingest.records import RowError
from gre_ray.ingest.text import build_text, fields_json

ROW, BAD, CHUNK_END = 0, 1, 2
INTERACTIONS, ITEMS = "interactions", "items"
RAW_CHARS = 4096  # a quarantined line is kept up to this many characters (diagnostics, not data)

STAGING_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("role", pa.string()),
        ("file", pa.int32()),
        ("chunk", pa.int32()),
        ("line", pa.int64()),  # chunk-local line number; CHUNK_END: lines in the chunk
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("timestamp", pa.int64()),
        ("rating", pa.float32()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("raw_json", pa.string()),
        ("digest", pa.int64()),  # hash of raw_json: tells identical from conflicting duplicates
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("n_records", pa.int64()),  # CHUNK_END: non-blank record lines read
        ("n_blank", pa.int64()),  # CHUNK_END: blank lines skipped
    ]
)


@dataclass(frozen=True)
class ParseJob:
    """What a worker needs to parse the chunks of one dataset (picklable).

    Attributes:
        adapter: the source format.
        options: adapter options with defaults filled in.
        text_fields: the item text template.
        text: formatting and cleaning settings.
        min_timestamp: earliest valid timestamp.
        max_timestamp: bound above the latest valid timestamp.
        block_lines: lines per output block.
        strict: raise DataError at the first bad line instead of quarantining it.
    """

    adapter: AdapterName
    options: dict[str, str]
    text_fields: tuple[str, ...]
    text: TextSettings
    min_timestamp: int
    max_timestamp: int
    block_lines: int
    strict: bool = False


_ROW_COLUMNS = {
    INTERACTIONS: ("line", "user_id", "item_id", "timestamp", "rating"),
    ITEMS: ("line", "item_id", "title", "text", "raw_json", "digest"),
}
_BAD_COLUMNS = ("line", "reason", "raw")


class _Block:
    """Column lists of one output block: parsed rows and quarantined lines kept apart.

    Rows fill only their own columns (five for an interaction), which keeps the per-line
    cost low; :meth:`table` fills the rest of the staging schema with nulls.
    """

    def __init__(self, chunk: Chunk, job: ParseJob) -> None:
        self.chunk, self.job = chunk, job
        self.rows: dict[str, list[Any]] = {name: [] for name in _ROW_COLUMNS[chunk.file.role]}
        self.bads: dict[str, list[Any]] = {name: [] for name in _BAD_COLUMNS}

    def bad(self, line: int, reason: str, raw: bytes | str) -> None:
        text = raw if isinstance(raw, str) else raw.decode(self.chunk.file.fmt.encoding, errors="replace")
        if self.job.strict:
            where = line + (self.chunk.line_offset or 0)
            raise DataError(f"{self.chunk.file.display}:{where}: {reason} (ingest.strict is on)")
        self.bads["line"].append(line)
        self.bads["reason"].append(reason)
        self.bads["raw"].append(text[:RAW_CHARS])

    def table(self) -> pa.Table:
        return pa.concat_tables([_table(self.chunk, ROW, self.rows), _table(self.chunk, BAD, self.bads)])


def _table(chunk: Chunk, kind: int, columns: dict[str, list[Any]]) -> pa.Table:
    """A staging table of ``kind`` rows from the given columns; the others are constant or null."""
    n = len(columns["line"])
    constant = {"kind": kind, "role": chunk.file.role, "file": chunk.file.index, "chunk": chunk.index}
    arrays = []
    for field in STAGING_SCHEMA:
        if field.name in columns:
            arrays.append(pa.array(columns[field.name], field.type))
        elif field.name in constant:
            arrays.append(pa.array([constant[field.name]] * n, field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=STAGING_SCHEMA)


def parse_chunk(chunk: Chunk, job: ParseJob, piece: Piece | None = None) -> Iterator[pa.Table]:
    """Staging blocks for every line of ``chunk``, ending with its CHUNK_END summary.

    With ``piece``, the lines are that piece of a decompressed ``.gz`` file (``chunk``
    names the file and the piece's index) instead of being read from the file.

    Raises:
        DataError: in strict mode, at the first line that would be quarantined.
    """
    adapter = get_adapter(job.adapter)
    options = job.options
    items = chunk.file.role == ITEMS
    fmt, columns = chunk.file.fmt, chunk.columns
    low, high = job.min_timestamp, job.max_timestamp
    records = blank = last_line = 0
    for first, entries in _entries(chunk, job.block_lines, piece):
        block = _Block(chunk, job)
        rows = block.rows
        add_line = rows["line"].append
        for offset, entry in enumerate(entries):
            line = first + offset
            last_line = line
            if type(entry) is tuple:  # (damage reason, partial line) at the end of a damaged .gz
                records += 1
                block.bad(line, entry[0], entry[1])
                continue
            if chunk.skip_header and line == 1:
                continue
            if type(entry) is bytes and not entry.strip():
                blank += 1
                continue
            records += 1
            try:
                record = decode_record(decode_text(entry, fmt.encoding), fmt, columns) if type(entry) is bytes else entry
                if items:
                    _add_item(rows, line, adapter.item(record, options), job)
                    continue
                for row in adapter.interactions(record, options):
                    if type(row) is RowError:
                        block.bad(line, row.reason, _raw(entry))
                    elif not low <= row.timestamp < high:
                        block.bad(line, "timestamp_out_of_range", _raw(entry))
                    else:
                        add_line(line)
                        rows["user_id"].append(row.user_id)
                        rows["item_id"].append(row.item_id)
                        rows["timestamp"].append(row.timestamp)
                        rows["rating"].append(row.rating)
            except RowError as error:
                block.bad(line, error.reason, _raw(entry))
        yield block.table()
    end = {"line": [last_line], "n_records": [records], "n_blank": [blank]}
    yield _table(chunk, CHUNK_END, end)


def parse_to_staging(chunk: Chunk, job: ParseJob, staging_uri: str, piece: Piece | None = None) -> int:
    """Parse one chunk (or one piece of a ``.gz`` file) into one staging Parquet file; its row count.

    The body of an ingest parse task (:mod:`gre_ray.wiring.ingest_tasks`).
    """
    import pyarrow.parquet as pq

    from gre_ray.data.storage import Location

    staging = Location.of(staging_uri)
    path = (staging / f"{chunk.file.index:04d}-{chunk.index:06d}.parquet").path
    rows = 0
    with pq.ParquetWriter(path, STAGING_SCHEMA, filesystem=staging.fs) as writer:
        for block in parse_chunk(chunk, job, piece):
            writer.write_table(block)
            rows += block.num_rows
    return rows


def _add_item(rows: dict[str, list[Any]], line: int, item: Any, job: ParseJob) -> None:
    names = job.text_fields or tuple(item.fields)
    text = build_text(item.fields, names, job.text)
    if not text:
        raise RowError("empty_text")
    raw_json = fields_json(item.fields)
    digest = int.from_bytes(hashlib.blake2b(raw_json.encode(), digest_size=8).digest(), "little", signed=True)
    title = clean_text(item.title, job.text) if item.title else None
    for name, value in zip(_ROW_COLUMNS[ITEMS], (line, item.item_id, title or None, text, raw_json, digest)):
        rows[name].append(value)


def _raw(entry: bytes | dict[str, Any]) -> bytes | str:
    return entry if isinstance(entry, bytes) else json.dumps(entry, default=str, ensure_ascii=False)


def _entries(chunk: Chunk, block_lines: int, piece: Piece | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(first chunk-local line, entries): raw lines, Parquet rows as dicts, or (damage, partial line)."""
    if chunk.file.fmt.syntax is Syntax.PARQUET:
        import pyarrow.parquet as pq

        from gre_ray.data.storage import Location

        loc = Location.of(chunk.file.uri)
        if chunk.end <= chunk.start:
            return
        parquet = pq.ParquetFile(loc.fs.open_input_file(loc.path))
        line = 1
        for batch in parquet.iter_batches(batch_size=block_lines, row_groups=[chunk.index]):
            rows = batch.to_pylist()
            yield line, rows
            line += len(rows)
        return
    for block in piece_blocks(piece, block_lines) if piece is not None else iter_blocks(chunk, block_lines):
        if block.damage:
            yield block.first_line, [(block.damage, block.lines[0])]
        else:
            yield block.first_line, block.lines
