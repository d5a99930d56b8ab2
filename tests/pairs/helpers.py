"""Tiny inputs for pair-mining tests: hand-made sequences, TF-IDF guide vectors, the demo domains."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn.feature_extraction.text import TfidfVectorizer

from gre_ray.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA


def interactions(rows: list[tuple[str, str, int]], domain: str = "d") -> pa.Table:
    """An interactions table from (user, item, timestamp) rows."""
    n = len(rows)
    return pa.Table.from_arrays(
        [
            pa.array([domain] * n, pa.string()),
            pa.array([r[0] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.string()),
            pa.array([r[2] for r in rows], pa.int64()),
            pa.nulls(n, pa.float32()),
            pa.nulls(n, pa.int8()),
        ],
        schema=INTERACTIONS_SCHEMA,
    )


def items(ids: list[str], texts: list[str] | None = None, domain: str = "d") -> pa.Table:
    texts = texts or [f"item {i}" for i in ids]
    n = len(ids)
    return pa.Table.from_arrays(
        [pa.array([domain] * n), pa.array(ids), pa.array(texts), pa.nulls(n, pa.string()), pa.nulls(n, pa.string())],
        schema=ITEMS_SCHEMA,
    )


def embeddings(ids: list[str], vectors: np.ndarray) -> pa.Table:
    """The embeddings contract table (item_id, fixed_size_list<float32>[dim])."""
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.table({"item_id": pa.array(ids, pa.string()), "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})


def tfidf_embeddings(item_table: pa.Table) -> pa.Table:
    """TF-IDF vectors of the item texts as a stand-in guide model."""
    vectors = TfidfVectorizer().fit_transform(item_table.column("text").to_pylist()).toarray()
    return embeddings(item_table.column("item_id").to_pylist(), vectors)


# u1: A B C, u2: A B, u3: B C D, u4: A (a single item: contributes nothing).
HAND_ROWS = [
    ("u1", "A", 1), ("u1", "B", 2), ("u1", "C", 3),
    ("u2", "A", 1), ("u2", "B", 2),
    ("u3", "B", 5), ("u3", "C", 6), ("u3", "D", 7),
    ("u4", "A", 1),
]
HAND_ITEMS = ["A", "B", "C", "D"]
