"""Frozen item text vectors, aligned to a split's dense item ids.

The embeddings table follows the project contract (``item_id`` string, ``embedding``
``fixed_size_list<float32>[dim]``) and is checked with
:func:`gre_ray.data.schema.embedding_dim` and :func:`~gre_ray.data.schema.validate_table`.
Row ``i`` of the aligned matrix is the vector of dense item ``i``; row 0 (padding) is zero.

Items of the split missing from the table are an error by default; with
``missing="zero"`` they get a zero vector and are counted (``TextVectors.n_missing``).

Optional PCA or PCA-whitening (BERT-whitening, Su et al. 2021) is fitted on the vectors of
the split's present items only and leaves padding and missing rows at zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from gre_ray.data.schema import embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import Location, read_table
from gre_ray.errors import ConfigError, DataError


class MissingPolicy(str, Enum):
    ERROR = "error"
    ZERO = "zero"


class Reduction(str, Enum):
    NONE = "none"
    PCA = "pca"
    WHITEN = "whiten"


def items_digest(item_ids: np.ndarray) -> str:
    """A short hash of an item list, to check that vectors belong to a split."""
    return hashlib.sha256("\0".join(map(str, item_ids)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TextVectors:
    """Text vectors aligned to a split.

    Attributes:
        matrix: (N + 1, dim) float32; row 0 and missing rows are zero.
        present: (N + 1,) bool, False for padding and missing items.
        source: the file they were read from.
        items_digest: :func:`items_digest` of the split's item ids.
        n_missing: split items without a vector.
    """

    matrix: np.ndarray
    present: np.ndarray
    source: str
    items_digest: str
    n_missing: int = 0

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]


def align_text_vectors(
    item_ids_table: np.ndarray,
    vectors: np.ndarray,
    split_item_ids: np.ndarray,
    *,
    source: str,
    missing: MissingPolicy = MissingPolicy.ERROR,
    dataset: str = "",
) -> TextVectors:
    """Put ``vectors`` (one per ``item_ids_table``) in the split's item order.

    Args:
        item_ids_table: (M,) item ids of the embeddings table.
        vectors: (M, dim) float32.
        split_item_ids: (N,) the split's item ids (dense order).
        source: file name for messages.
        missing: what to do with split items absent from the table.
        dataset: dataset name for messages.

    Returns:
        The aligned vectors.

    Raises:
        DataError: non-finite values, or missing items under ``missing="error"``.
    """
    if not np.isfinite(vectors).all():
        raise DataError(
            f"{source}: {int((~np.isfinite(vectors)).any(1).sum())} embedding(s) have NaN or inf values"
        )
    rows = pd.Index(np.asarray(item_ids_table, dtype=object)).get_indexer(
        np.asarray(split_item_ids, dtype=object)
    )
    absent = rows < 0
    n_missing = int(absent.sum())
    if n_missing and MissingPolicy(missing) == MissingPolicy.ERROR:
        examples = ", ".join(map(repr, np.asarray(split_item_ids)[absent][:3]))
        raise DataError(
            f"{source}: {n_missing} of {len(split_item_ids)} items of dataset {dataset or '<split>'} "
            f"have no embedding (e.g. {examples}); set fusion.missing=zero to give them a zero vector"
        )
    matrix = np.zeros((len(split_item_ids) + 1, vectors.shape[1]), dtype=np.float32)
    matrix[1:][~absent] = vectors[rows[~absent]]
    present = np.concatenate([[False], ~absent])
    return TextVectors(matrix, present, source, items_digest(split_item_ids), n_missing)


def load_text_vectors(
    path: str | Path,
    split_item_ids: np.ndarray,
    *,
    missing: MissingPolicy = MissingPolicy.ERROR,
    expected_dim: int | None = None,
    dataset: str = "",
) -> TextVectors:
    """Read an embeddings Parquet file or folder and align it to the split's items.

    Args:
        path: the embeddings table (local path or URI).
        split_item_ids: (N,) the split's item ids, e.g. ``split.item_ids``.
        missing: what to do with split items absent from the table.
        expected_dim: the dimension the caller expects (the embedding model's); a
            different one is an error naming the file.
        dataset: dataset name for messages.

    Returns:
        The aligned vectors.

    Raises:
        DataError: unreadable file, wrong column types, duplicate ids, dimension mismatch,
            non-finite values, or missing items.
    """
    loc = Location.of(path)
    table = read_table(loc)
    dim = embedding_dim(table.schema, source=loc.uri)
    if expected_dim is not None and dim != expected_dim:
        raise DataError(f"{loc.uri}: embeddings have dimension {dim}, expected {expected_dim}")
    table = validate_table(table, embeddings_contract(dim), source=loc.uri)
    column = table.column("embedding").combine_chunks()
    vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)
    ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
    return align_text_vectors(ids, vectors, split_item_ids, source=loc.uri, missing=missing, dataset=dataset)


def reduce_text_vectors(text: TextVectors, method: Reduction, out_dim: int | None = None) -> TextVectors:
    """PCA or PCA-whitening of the present rows; padding and missing rows stay zero.

    Args:
        text: aligned vectors.
        method: ``none`` returns ``text`` unchanged.
        out_dim: components to keep (None: all there are, ``min(items, dim)``; with
            ``pca`` that is centring and a rotation, no information lost).

    Returns:
        Vectors of dimension ``out_dim`` (or the input dimension).
    """
    method = Reduction(method)
    if method == Reduction.NONE:
        return text
    x = text.matrix[text.present].astype(np.float64)  # (P, dim)
    k = out_dim or min(x.shape)
    if not 0 < k <= min(x.shape):
        raise ConfigError(
            f"fusion.reduce_dim={k} must be in 1..{min(x.shape)} for {text.source} "
            f"({x.shape[0]} present items of dimension {x.shape[1]})"
        )
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    proj = vt[:k].T  # (dim, k)
    if method == Reduction.WHITEN:
        std = s[:k] / np.sqrt(max(len(x) - 1, 1))
        proj = proj / np.maximum(std, 1e-8)
    out = np.zeros((len(text.matrix), k), dtype=np.float32)
    out[text.present] = ((x - mean) @ proj).astype(np.float32)
    return TextVectors(out, text.present, text.source, text.items_digest, text.n_missing)
