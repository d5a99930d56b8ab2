"""Parsing one chunk of a raw file into staging blocks: rows, quarantined lines, a line count.

This is the function Ray Data maps over chunks (:mod:`gre_ray.stages.ingest`); it is pure
and runs as well in a test on a tmp file. Every line ends up in exactly one place: a
parsed row (or several, for Steam's per-user lists), a quarantine row with its reason,
a blank-line count, or the header. The last block of a chunk is a one-row summary
(``kind = CHUNK_END``) carrying the chunk's line count, from which the driver computes
each chunk's first line number in its file (:func:`gre_ray.ingest.assemble.line_offsets`).

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
from gre_ray.ingest.config import AdapterName, TextSettings
from gre_ray.ingest.files import Chunk, iter_blocks
from gre_ray.ingest.formats import Syntax, decode_record, decode_text
from gre_ray.ingest.records import RowError, check_timestamp
from gre_ray.ingest.text import build_text, fields_json
from gre_ray.ingest.tokens import token_counter
from gre_ray.ingest.clean import clean_text

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
        ("tokens", pa.int32()),
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
        tokenizer: tokenizer path for token counts, or None.
        block_lines: lines per output block.
        strict: raise DataError at the first bad line instead of quarantining it.
    """

    adapter: AdapterName
    options: dict[str, str]
    text_fields: tuple[str, ...]
    text: TextSettings
    min_timestamp: int
    max_timestamp: int
    tokenizer: str | None
    block_lines: int
    strict: bool = False


class _Block:
    """Column lists of one output block."""

    def __init__(self, chunk: Chunk, job: ParseJob) -> None:
        self.chunk, self.job = chunk, job
        self.cols: dict[str, list[Any]] = {name: [] for name in STAGING_SCHEMA.names}

    def add(self, kind: int, line: int, **values: Any) -> None:
        for name, column in self.cols.items():
            column.append(values.get(name))
        self.cols["kind"][-1], self.cols["line"][-1] = kind, line

    def bad(self, line: int, reason: str, raw: bytes | str) -> None:
        text = raw if isinstance(raw, str) else raw.decode(self.chunk.file.fmt.encoding, errors="replace")
        if self.job.strict:
            where = line + (self.chunk.line_offset or 0)
            raise DataError(f"{self.chunk.file.display}:{where}: {reason} (ingest.strict is on)")
        self.add(BAD, line, reason=reason, raw=text[:RAW_CHARS])

    def table(self) -> pa.Table:
        n = len(self.cols["kind"])
        self.cols["role"] = [self.chunk.file.role] * n
        self.cols["file"] = [self.chunk.file.index] * n
        self.cols["chunk"] = [self.chunk.index] * n
        return pa.Table.from_pydict(self.cols, schema=STAGING_SCHEMA)


def parse_chunk(chunk: Chunk, job: ParseJob) -> Iterator[pa.Table]:
    """Staging blocks for every line of ``chunk``, ending with its CHUNK_END summary.

    Raises:
        DataError: in strict mode, at the first line that would be quarantined.
    """
    adapter = get_adapter(job.adapter)
    options = job.options
    items = chunk.file.role == ITEMS
    count_tokens = token_counter(job.tokenizer) if items and job.tokenizer else None
    fmt = chunk.file.fmt
    records = blank = last_line = 0
    for first, entries in _entries(chunk, job.block_lines):
        block = _Block(chunk, job)
        for offset, entry in enumerate(entries):
            line = first + offset
            last_line = line
            if isinstance(entry, tuple):  # (damage reason, partial line) at the end of a damaged .gz
                records += 1
                block.bad(line, entry[0], entry[1])
                continue
            if chunk.skip_header and line == 1:
                continue
            if isinstance(entry, bytes) and not entry.strip():
                blank += 1
                continue
            records += 1
            try:
                if isinstance(entry, bytes):
                    record = decode_record(decode_text(entry, fmt.encoding), fmt, chunk.columns)
                else:
                    record = entry
                if items:
                    _add_item(block, line, adapter.item(record, options), job)
                else:
                    for row in adapter.interactions(record, options):
                        if isinstance(row, RowError):
                            block.bad(line, row.reason, _raw(entry))
                            continue
                        try:
                            check_timestamp(row.timestamp, job.min_timestamp, job.max_timestamp)
                        except RowError as error:
                            block.bad(line, error.reason, _raw(entry))
                            continue
                        block.add(ROW, line, user_id=row.user_id, item_id=row.item_id, timestamp=row.timestamp, rating=row.rating)
            except RowError as error:
                block.bad(line, error.reason, _raw(entry))
        if count_tokens is not None:
            texts = [t for t in block.cols["text"] if t is not None]
            counts = iter(count_tokens(texts)) if texts else iter(())
            block.cols["tokens"] = [next(counts) if t is not None else None for t in block.cols["text"]]
        yield block.table()
    end = _Block(chunk, job)
    end.add(CHUNK_END, last_line, n_records=records, n_blank=blank)
    yield end.table()


def _add_item(block: _Block, line: int, item: Any, job: ParseJob) -> None:
    names = job.text_fields or tuple(item.fields)
    text = build_text(item.fields, names, job.text)
    if not text:
        raise RowError("empty_text")
    raw_json = fields_json(item.fields)
    digest = int.from_bytes(hashlib.blake2b(raw_json.encode(), digest_size=8).digest(), "little", signed=True)
    title = clean_text(item.title, job.text) if item.title else None
    block.add(ROW, line, item_id=item.item_id, title=title or None, text=text, raw_json=raw_json, digest=digest)


def _raw(entry: bytes | dict[str, Any]) -> bytes | str:
    return entry if isinstance(entry, bytes) else json.dumps(entry, default=str, ensure_ascii=False)


def _entries(chunk: Chunk, block_lines: int) -> Iterator[tuple[int, list[Any]]]:
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
    for block in iter_blocks(chunk, block_lines):
        if block.damage:
            yield block.first_line, [(block.damage, block.lines[0])]
        else:
            yield block.first_line, block.lines
