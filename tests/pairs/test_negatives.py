"""Hard negatives: nearest in the guide space, never the anchor, a co-occurring item or a duplicate."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gre_ray.pairs.negatives import Cooccurring, SearchSettings, hard_negatives, normalized_text_keys


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _relation(history):
    """Co-occurrence relation of whole histories, as the stage builds it (upper-triangular counts)."""
    x = sp.csr_matrix(history)
    return Cooccurring(sp.triu(x.T @ x, k=1))


def test_nearest_non_cooccurring_items_in_similarity_order():
    # Items on a circle: item k at angle 0.1 k, so neighbours of 0 are 1, 2, 3, ... in order.
    angles = 0.1 * np.arange(12)
    vectors = _unit(np.c_[np.cos(angles), np.sin(angles)])
    # Users: item 0 co-occurs with 1 and 3; item 5 with 6.
    history = np.array([[1, 1, 0, 1] + [0] * 8, [0] * 5 + [1, 1] + [0] * 5])
    keys = normalized_text_keys([f"item {k}" for k in range(12)])
    neg = hard_negatives(np.array([0, 5]), vectors, np.ones(12, bool), _relation(history), keys, SearchSettings(3, 1.0))
    assert neg[0].tolist() == [2, 4, 5]
    # Around item 5: 4 and 6 (6 co-occurs), then 3 and 7 at equal distance.
    assert neg[1][0] == 4 and set(neg[1][1:].tolist()) == {3, 7}


def test_duplicates_and_similarity_ceiling_are_skipped():
    vectors = _unit([[1, 0], [1, 0.01], [1, 0.3], [1, 0.6], [1, 1.0], [0, 1]])
    texts = ["Red Tent", "red  tent!", "Blue tent", "green tent", "stove", "pan"]
    nobody = _relation(np.zeros((1, 6), dtype=int))
    keys = normalized_text_keys(texts)
    assert keys[0] == keys[1] != keys[2]
    neg = hard_negatives(np.array([0]), vectors, np.ones(6, bool), nobody, keys, SearchSettings(2, 1.0))
    assert neg[0].tolist() == [2, 3]  # 1 is a duplicate text of 0
    neg = hard_negatives(np.array([0]), vectors, np.ones(6, bool), nobody, keys, SearchSettings(2, 0.9))
    assert neg[0].tolist() == [3, 4]  # 2 is above the ceiling (cos ≈ 0.958)


def test_pool_exhaustion_pads_and_missing_vectors_are_never_negatives():
    vectors = _unit(np.random.default_rng(0).normal(size=(30, 4)))
    has_vector = np.ones(30, bool)
    has_vector[::2] = False
    history = np.ones((1, 30), dtype=int)
    history[0, 1] = 0
    relation, keys = _relation(history), np.arange(30)
    neg = hard_negatives(np.array([1]), vectors, has_vector, relation, keys, SearchSettings(5, 1.0))
    # Item 1 has no user, so every other odd item is a candidate.
    assert len(set(neg[0].tolist())) == 5 and all(n % 2 == 1 and n != 1 for n in neg[0])
    neg = hard_negatives(np.array([3]), vectors, has_vector, relation, keys, SearchSettings(5, 1.0))
    # Item 3 shares a user with every item but 1: one negative, the rest padded.
    assert neg[0].tolist() == [1, -1, -1, -1, -1]


def test_extra_histories_count_as_cooccurrence():
    vectors = _unit(np.c_[np.cos(0.1 * np.arange(6)), np.sin(0.1 * np.arange(6))])
    counted = sp.csr_matrix((6, 6))
    extra = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0]]))  # a capped user's full history: 0 with 1
    relation = Cooccurring(counted, extra)
    neg = hard_negatives(np.array([0]), vectors, np.ones(6, bool), relation, np.arange(6), SearchSettings(2, 1.0))
    assert neg[0].tolist() == [2, 3]


def _random_case(seed, n=400):
    rng = np.random.default_rng(seed)
    vectors = _unit(rng.normal(size=(n, 8)))
    history = (rng.random((300, n)) < 0.02).astype(np.int32)
    return vectors, history


def test_random_check_never_cooccurring_never_anchor_exact_and_ivf():
    vectors, history = _random_case(1)
    n = len(vectors)
    anchors = np.arange(0, n, 3)
    together = history.T @ history > 0
    for exact_max in (10_000, 50):  # exact search, then IVF (approximate) search
        settings = SearchSettings(6, 0.9, exact_max_items=exact_max, nprobe=4)
        neg = hard_negatives(anchors, vectors, np.ones(n, bool), _relation(history), np.arange(n), settings)
        for a, row in zip(anchors, neg):
            row = row[row >= 0]
            assert len(row) == 6
            assert a not in row
            assert not together[a, row].any()
            sims = vectors[row] @ vectors[a]
            assert (sims <= 0.9 + 1e-6).all()
            assert np.all(np.diff(sims) <= 1e-6)  # most similar first
