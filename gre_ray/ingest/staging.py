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
    """Raw string ids → dense int32 codes in order of first sight, batch by batch.

    Only the distinct ids of each batch pass through Python (``dictionary_encode`` does the
    rest in Arrow), so memory grows with the number of distinct ids, not of rows.
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._values: list[str] = []

    def __len__(self) -> int:
        return len(self._values)

    def encode(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Codes of ``ids`` (no nulls), adding ids not seen before."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        encoded = pc.dictionary_encode(ids)
        mapping = np.empty(len(encoded.dictionary), np.int32)
        index, values = self._index, self._values
        for position, value in enumerate(encoded.dictionary.to_pylist()):
            code = index.get(value)
            if code is None:
                code = index[value] = len(values)
                values.append(value)
            mapping[position] = code
        return mapping[encoded.indices.to_numpy(zero_copy_only=False)]

    def values(self) -> pa.Array:
        """The ids by code."""
        return pa.array(self._values, pa.string())


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
