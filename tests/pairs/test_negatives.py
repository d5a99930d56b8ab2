"""Hard negatives: nearest in the guide space, never the anchor, a co-occurring item or a duplicate."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gre_ray.pairs.negatives import hard_negatives, normalized_text_keys


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_nearest_non_cooccurring_items_in_similarity_order():
    # Items on a circle: item k at angle 0.1 k, so neighbours of 0 are 1, 2, 3, ... in order.
    angles = 0.1 * np.arange(12)
    vectors = _unit(np.c_[np.cos(angles), np.sin(angles)])
    # Users: item 0 co-occurs with 1 and 3; item 5 with 6.
    history = sp.csr_matrix(np.array([[1, 1, 0, 1] + [0] * 8, [0] * 5 + [1, 1] + [0] * 5]))
    keys = normalized_text_keys([f"item {k}" for k in range(12)])
    neg = hard_negatives(np.array([0, 5]), vectors, np.ones(12, bool), history, keys, 3, max_sim=1.0)
    assert neg[0].tolist() == [2, 4, 5]
    # Around item 5: 4 and 6 (6 co-occurs), then 3 and 7 at equal distance.
    assert neg[1][0] == 4 and set(neg[1][1:].tolist()) == {3, 7}


def test_duplicates_and_similarity_ceiling_are_skipped():
    vectors = _unit([[1, 0], [1, 0.01], [1, 0.3], [1, 0.6], [1, 1.0], [0, 1]])
    texts = ["Red Tent", "red  tent!", "Blue tent", "green tent", "stove", "pan"]
    history = sp.csr_matrix((1, 6), dtype=np.int32)
    keys = normalized_text_keys(texts)
    assert keys[0] == keys[1] != keys[2]
    neg = hard_negatives(np.array([0]), vectors, np.ones(6, bool), history, keys, 2, max_sim=1.0)
    assert neg[0].tolist() == [2, 3]  # 1 is a duplicate text of 0
    neg = hard_negatives(np.array([0]), vectors, np.ones(6, bool), history, keys, 2, max_sim=0.9)
    assert neg[0].tolist() == [3, 4]  # 2 is above the ceiling (cos ≈ 0.958)


def test_pool_exhaustion_pads_and_missing_vectors_are_never_negatives():
    vectors = _unit(np.random.default_rng(0).normal(size=(30, 4)))
    has_vector = np.ones(30, bool)
    has_vector[::2] = False
    history = sp.csr_matrix(np.ones((1, 30), dtype=np.int32))
    history[0, 1] = 0
    history.eliminate_zeros()
    keys = np.arange(30)
    neg = hard_negatives(np.array([1]), vectors, has_vector, history, keys, 5, max_sim=1.0)
    # Item 1 co-occurs with nothing (it has no user), every other odd item is a candidate.
    assert len(set(neg[0].tolist())) == 5 and all(n % 2 == 1 and n != 1 for n in neg[0])
    neg = hard_negatives(np.array([3]), vectors, has_vector, history, keys, 5, max_sim=1.0)
    # Item 3 shares a user with every item but 1: one negative, the rest padded.
    assert neg[0].tolist() == [1, -1, -1, -1, -1]


def test_random_check_never_cooccurring_never_anchor():
    rng = np.random.default_rng(1)
    n = 200
    vectors = _unit(rng.normal(size=(n, 8)))
    history = sp.csr_matrix((rng.random((300, n)) < 0.02).astype(np.int32))
    anchors = np.arange(0, n, 3)
    neg = hard_negatives(anchors, vectors, np.ones(n, bool), history, np.arange(n), 6, max_sim=0.9)
    together = (history.T @ history).toarray() > 0
    for a, row in zip(anchors, neg):
        row = row[row >= 0]
        assert len(row) == 6
        assert a not in row
        assert not together[a, row].any()
        assert (vectors[row] @ vectors[a] <= 0.9 + 1e-6).all()
        sims = vectors[row] @ vectors[a]
        assert np.all(np.diff(sims) <= 1e-6)  # most similar first
