"""Reading the staging folder the parse tasks wrote, and the helpers the driver assembles with.

The staging folder holds Parquet files of :data:`~gre_ray.ingest.parse.STAGING_SCHEMA`
written by Ray Data in no particular order. Nothing here depends on that order: rows are
ordered by their *order key* (file, chunk, chunk-local line), which grows with the
position in the source files, and line numbers within a file come from the chunks' line
counts (:func:`line_offsets`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.ingest.parse import STAGING_SCHEMA

_CHUNK_SHIFT, _FILE_SHIFT = 32, 48


def staging_paths(staging: Location) -> list[str]:
    """The Parquet files of a staging folder, sorted."""
    return [info.path for info in staging.files() if info.path.endswith(".parquet")]


def scan(
    staging: Location, paths: list[str], columns: list[str], kind: int, role: str | None = None, batch_rows: int = 1 << 17
) -> Iterator[pa.Table]:
    """The staging rows of ``kind`` (and ``role``), the given columns, file by file in row order."""
    wanted = list(dict.fromkeys([*columns, "kind", "role"]))
    for path in paths:
        with staging.fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
                mask = pc.equal(batch.column("kind"), kind)
                if role is not None:
                    mask = pc.and_(mask, pc.equal(batch.column("role"), role))
                table = pa.Table.from_batches([batch]).filter(mask).select(columns)
                if table.num_rows:
                    yield table


def read(staging: Location, paths: list[str], columns: list[str], kind: int, role: str | None = None) -> pa.Table:
    """All matching rows as one table (for the narrow columns the driver filters on)."""
    tables = list(scan(staging, paths, columns, kind, role))
    if not tables:
        return pa.schema([STAGING_SCHEMA.field(c) for c in columns]).empty_table()
    return pa.concat_tables(tables)


def order_key(table: pa.Table) -> np.ndarray:
    """(file, chunk, line) packed into one int64 that sorts like the source files."""
    file = table.column("file").to_numpy().astype(np.int64)
    chunk = table.column("chunk").to_numpy().astype(np.int64)
    line = table.column("line").to_numpy().astype(np.int64)
    return (file << _FILE_SHIFT) | (chunk << _CHUNK_SHIFT) | line


def line_offsets(summaries: pa.Table) -> dict[tuple[int, int], int]:
    """Lines before each chunk in its file, from the CHUNK_END rows (``line`` = lines in the chunk)."""
    rows = sorted(
        zip(
            summaries.column("file").to_pylist(),
            summaries.column("chunk").to_pylist(),
            summaries.column("line").to_pylist(),
        )
    )
    offsets: dict[tuple[int, int], int] = {}
    running: dict[int, int] = {}
    for file, chunk, count in rows:
        offsets[(file, chunk)] = running.get(file, 0)
        running[file] = running.get(file, 0) + count
    return offsets


def global_lines(table: pa.Table, offsets: dict[tuple[int, int], int]) -> np.ndarray:
    """Line numbers within the file for rows that carry chunk-local ``line`` numbers."""
    file = table.column("file").to_numpy()
    chunk = table.column("chunk").to_numpy()
    local = table.column("line").to_numpy().astype(np.int64)
    shift = np.fromiter((offsets.get((int(f), int(c)), 0) for f, c in zip(file, chunk)), np.int64, len(local))
    return local + shift


class IdEncoder:
    """Raw string ids → dense int32 codes in order of first sight, over a stream of batches.

    Each batch is dictionary-encoded in Arrow as it arrives, keeping only its int32
    indices and its distinct ids; :meth:`finish` dictionary-encodes the batches' distinct
    ids once, as one chunked array (Arrow shares one hash table across the chunks), and
    maps every batch's indices to global codes with a numpy take. No id passes through
    Python, and memory grows with the per-batch distinct ids, not with the id strings of
    every row. Codes come out in order of first sight because each batch dictionary lists
    its ids in order of first sight and the batches are encoded in stream order.
    """

    def __init__(self) -> None:
        self._dictionaries: list[pa.Array] = []
        self._indices: list[np.ndarray] = []

    def add(self, ids: pa.Array | pa.ChunkedArray) -> None:
        """Queue the next batch of ``ids`` (no nulls)."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        encoded = pc.dictionary_encode(ids.cast(pa.string()))
        self._dictionaries.append(encoded.dictionary)
        self._indices.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False))

    def finish(self) -> tuple[list[np.ndarray], pa.Array]:
        """The codes of each queued batch, in order, and the ids by code."""
        filled = [d for d in self._dictionaries if len(d)]  # Arrow drops empty chunks
        encoded = pc.dictionary_encode(pa.chunked_array(filled, pa.string())).chunks
        mappings = iter(chunk.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False) for chunk in encoded)
        codes = [next(mappings)[local] if len(local) else np.empty(0, np.int32) for local in self._indices]
        values = encoded[-1].dictionary if encoded else pa.array([], pa.string())
        self._dictionaries, self._indices = [], []
        return codes, values


def encode_ids(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Codes of one array of ids in order of first sight, and the ids by code."""
    encoder = IdEncoder()
    encoder.add(ids)
    codes, values = encoder.finish()
    return codes[0], values


class PartWriter:
    """Writes one Parquet file of a table artifact in slices, so no whole table sits in memory."""

    def __init__(self, loc: Location, schema: pa.Schema) -> None:
        self.loc, self.schema = loc, schema
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.loc.parent.mkdir()
            self._writer = pq.ParquetWriter(self.loc.path, self.schema, filesystem=self.loc.fs, compression="zstd")
        self._writer.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file; a part that got no rows is still written, empty, so the artifact exists."""
        if self._writer is None:
            self.write(self.schema.empty_table())
        assert self._writer is not None
        self._writer.close()
