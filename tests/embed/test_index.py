"""The faiss index against brute-force search, and its saved folder."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.data.storage import Location
from gre_ray.embed.index import EmbeddingIndex, IndexConfig, IndexKind, Metric
from gre_ray.errors import DataError


def _data(n: int = 400, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.array([f"item{i}" for i in range(n)], dtype=object), vectors


def _brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def test_flat_search_returns_brute_force_neighbours():
    ids, vectors = _data()
    queries = np.random.default_rng(1).standard_normal((20, 16)).astype(np.float32)
    index = EmbeddingIndex.build(ids, vectors, IndexConfig())
    found, scores = index.search(queries, 10)
    np.testing.assert_array_equal(found, ids[_brute_force(vectors, queries, 10)])
    np.testing.assert_allclose(scores, np.sort(queries @ vectors.T, axis=1)[:, ::-1][:, :10], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", [IndexKind.IVF, IndexKind.HNSW])
def test_approximate_indexes_find_most_true_neighbours(kind):
    ids, vectors = _data()
    queries = vectors[:50] + 0.01 * np.random.default_rng(2).standard_normal((50, 16)).astype(np.float32)
    index = EmbeddingIndex.build(ids, vectors, IndexConfig(kind=kind, nprobe=4))
    found, _ = index.search(queries, 5)
    truth = ids[_brute_force(vectors, queries, 5)]
    recall = np.mean([len(set(f) & set(t)) / 5 for f, t in zip(found, truth)])
    assert recall >= 0.9


def test_neighbours_of_leaves_the_item_out():
    ids, vectors = _data(n=50)
    index = EmbeddingIndex.build(ids, vectors, IndexConfig())
    found, scores = index.neighbours_of(["item3", "item7"], 4)
    assert found.shape == (2, 4) and "item3" not in found[0] and "item7" not in found[1]
    sims = vectors[3] @ vectors.T
    sims[3] = -np.inf
    assert found[0].tolist() == ids[np.argsort(-sims)[:4]].tolist()
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    with pytest.raises(KeyError, match="nope"):
        index.neighbours_of(["nope"], 2)


def test_save_and_load_round_trip(tmp_path):
    ids, vectors = _data(n=60)
    for kind in IndexKind:
        config = IndexConfig(kind=kind, metric=Metric.L2)
        index = EmbeddingIndex.build(ids, vectors, config)
        loc = Location.of(tmp_path / kind.value)
        index.save(loc)
        loaded = EmbeddingIndex.load(loc)
        assert loaded.config == config and len(loaded) == 60
        before, after = index.search(vectors[:5], 3), loaded.search(vectors[:5], 3)
        np.testing.assert_array_equal(before[0], after[0])
        assert before[0][:, 0].tolist() == ids[:5].tolist()  # L2: each vector is nearest to itself


def test_k_larger_than_the_index_and_bad_folder(tmp_path):
    ids, vectors = _data(n=3)
    found, scores = EmbeddingIndex.build(ids, vectors, IndexConfig()).search(vectors[0], 10)
    assert found.shape == scores.shape == (1, 3)
    with pytest.raises(DataError, match="not an index folder"):
        EmbeddingIndex.load(Location.of(tmp_path))
