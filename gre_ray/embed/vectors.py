"""Embeddings tables in the data contract: ``item_id`` + ``embedding`` (``fixed_size_list<float32>[dim]``).

A fixed-size list column is plain Parquet that any Arrow reader (pandas, Polars, DuckDB,
Spark) understands; Ray's own tensor extension type, which the numpy and pandas batch
formats of Ray Data would write, is not (DESIGN.md). These helpers convert between that
column and a ``(rows, dim)`` float32 matrix without copying row by row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.data.schema import EMBEDDING_COLUMN, embedding_dim, embeddings_schema
from gre_ray.data.storage import Location
from gre_ray.errors import DataError


def fixed_size_list(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """A ``fixed_size_list<float32>[dim]`` array holding the rows of a (rows, dim) matrix."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"expected a (rows, dim) matrix with dim > 0, got shape {matrix.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), pa.float32()), matrix.shape[1])


def embeddings_table(item_ids: list[str] | np.ndarray | pa.Array, matrix: np.ndarray) -> pa.Table:
    """An embeddings table in the contract schema.

    Args:
        item_ids: one id per row of ``matrix``.
        matrix: (rows, dim) vectors.

    Returns:
        A table with ``item_id`` (string) and ``embedding`` (fixed-size float32 list).
    """
    column = fixed_size_list(matrix)
    ids = item_ids if isinstance(item_ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(item_ids), pa.string())
    return pa.Table.from_arrays([ids, column], schema=embeddings_schema(matrix.shape[1]))


def matrix_of(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """The (rows, dim) float32 matrix of a ``fixed_size_list<float32>[dim]`` column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.list_(pa.float32(), dim))
    if column.null_count:
        raise DataError(f"column {EMBEDDING_COLUMN!r} has {column.null_count} null vector(s)")
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, dim)


def read_embeddings(loc: Location) -> tuple[np.ndarray, np.ndarray]:
    """Read an embeddings file or folder.

    Args:
        loc: a Parquet file or folder following the embeddings contract.

    Returns:
        ``(item_ids, matrix)``: an object array of ids and the (rows, dim) float32 vectors,
        in file order.

    Raises:
        DataError: the location is missing, unreadable or not an embeddings table.
    """
    if not loc.exists():
        raise DataError(f"{loc.uri}: embeddings file or folder does not exist")
    try:
        table = pq.read_table(loc.path, filesystem=loc.fs, columns=["item_id", EMBEDDING_COLUMN])
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{loc.uri}: cannot read embeddings: {exc}") from None
    dim = embedding_dim(table.schema, loc.uri)
    ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
    return ids, matrix_of(table.column(EMBEDDING_COLUMN), dim)
