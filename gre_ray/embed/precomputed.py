"""Vectors computed elsewhere (a private pipeline, an API run offline), one Parquet per dataset.

A folder holds ``<dataset>.parquet`` with ``item_id`` (string) and ``vector`` (a list of
floats; ``embedding`` is read too). Before any trial the file is checked against the
dataset's items: every item needs a vector (a shortfall is reported with its count and
examples, and the count of the file's ids that are no item of the dataset), every vector the
same dimension, no id twice, no null or non-finite value. Vectors are L2-normalised unless
the embedding states ``normalize: false`` (:class:`gre_ray.bench.config.EmbeddingModel`).

The vectors' fingerprint hashes the file's bytes (plus the Matryoshka dimension and
normalisation applied here), so a rewritten file gets new trial keys under the same name.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.errors import DataError

VECTOR_COLUMNS = ("vector", "embedding")


def vectors_file(folder: str, dataset: str) -> Location:
    return Location.of(folder) / f"{dataset}.parquet"


def file_fingerprint(loc: Location, dim: int | None, normalize: bool) -> str:
    digest = hashlib.sha256()
    with loc.fs.open_input_stream(loc.path) as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    digest.update(json.dumps({"dim": dim, "normalize": normalize}).encode())
    return "vec-" + digest.hexdigest()[:16]


def read_vectors(
    folder: str, dataset: str, item_ids: list[str], *, dim: int | None = None, normalize: bool = False
) -> tuple[list[str], np.ndarray, str]:
    """The vectors of ``dataset``'s items, checked, with their fingerprint.

    Args:
        folder: the folder of ``<dataset>.parquet`` files.
        dataset: the dataset name.
        item_ids: the dataset's item ids (every one needs a vector).
        dim: Matryoshka dimension (truncate, then renormalise when ``normalize``).
        normalize: L2-normalise the vectors.

    Returns:
        ``(ids, matrix, fingerprint)`` for exactly ``item_ids`` (extra rows are dropped).

    Raises:
        DataError: a missing or unreadable file, no vector column, ids that do not cover
            the dataset, a varying dimension, repeated ids, nulls or non-finite values.
    """
    loc = vectors_file(folder, dataset)
    if not loc.exists():
        raise DataError(f"{loc.uri}: no precomputed vectors for dataset {dataset!r} (expected <folder>/<dataset>.parquet)")
    try:
        table = pq.read_table(loc.path, filesystem=loc.fs)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{loc.uri}: cannot read as Parquet: {exc}") from None
    column = next((c for c in VECTOR_COLUMNS if c in table.column_names), None)
    if "item_id" not in table.column_names or column is None:
        raise DataError(f"{loc.uri}: needs columns item_id and vector (found: {', '.join(table.column_names)})")
    ids = [str(i) for i in table.column("item_id").to_pylist()]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = [i for i in ids if i in seen or seen.add(i)]
        raise DataError(f"{loc.uri}: {len(twice)} repeated item_id(s), e.g. {twice[:3]}")
    vectors = table.column(column).combine_chunks()
    if vectors.null_count:
        raise DataError(f"{loc.uri}: {vectors.null_count} null vector(s)")
    lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
    if len(lengths) and lengths.min() != lengths.max():
        bad = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DataError(
            f"{loc.uri}: vector dimension varies ({int(lengths.min())} to {int(lengths.max())}; item {ids[bad]!r} "
            f"has {int(lengths[bad])}, item {ids[0]!r} has {int(lengths[0])})"
        )
    width = int(lengths[0]) if len(lengths) else 0
    position = {item: row for row, item in enumerate(ids)}
    missing = [i for i in item_ids if i not in position]
    if missing:
        known = set(item_ids)
        unknown = [i for i in ids if i not in known]
        raise DataError(
            f"{loc.uri}: {len(missing)} of {len(item_ids)} items of dataset {dataset!r} have no vector, "
            f"e.g. {', '.join(map(repr, missing[:5]))}; {len(unknown)} of the file's {len(ids)} ids are not items "
            f"of the dataset" + (f", e.g. {', '.join(map(repr, unknown[:3]))}" if unknown else "")
        )
    values = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(ids), width)
    matrix = values[[position[i] for i in item_ids]]
    if not np.isfinite(matrix).all():
        raise DataError(f"{loc.uri}: non-finite values in the vectors")
    if dim is not None:
        if dim > width:
            raise DataError(f"{loc.uri}: dim {dim} exceeds the vectors' dimension {width}")
        matrix = matrix[:, :dim]
    if normalize:
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return list(item_ids), np.ascontiguousarray(matrix, dtype=np.float32), file_fingerprint(loc, dim, normalize)
