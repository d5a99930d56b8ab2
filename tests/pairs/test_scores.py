"""Cosine, PMI and Swing against hand-computed values, and Swing against its definition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from gre_ray.pairs.config import CoocScore
from gre_ray.pairs.cooccurrence import candidate_pairs, cooccurrence_counts, sum_counts
from gre_ray.pairs.scores import lookup, score_pairs, swing_matrix_input, swing_partial, user_weights
from tests.pairs.helpers import HAND_ITEMS
from tests.pairs.test_cooccurrence import hand_sequences

A, B, C, D = range(4)


def _scores(score, swing=None):
    seqs = hand_sequences()
    rows, cols, counts = candidate_pairs(cooccurrence_counts(seqs), 1)
    values = score_pairs(score, rows, cols, counts, seqs.item_user_counts(), seqs.n_users, swing)
    return {HAND_ITEMS[r] + HAND_ITEMS[c]: v for r, c, v in zip(rows, cols, values)}


def test_cosine_by_hand():
    # |U_A| = 2, |U_B| = 3, |U_C| = 2, |U_D| = 1 (u4's single item does not count).
    got = _scores(CoocScore.COSINE)
    assert got == pytest.approx({"AB": 2 / math.sqrt(6), "AC": 1 / 2, "BC": 2 / math.sqrt(6), "BD": 1 / math.sqrt(3), "CD": 1 / math.sqrt(2)})


def test_pmi_by_hand():
    got = _scores(CoocScore.PMI)  # N = 3 users
    assert got == pytest.approx({"AB": 0.0, "AC": math.log(3 / 4), "BC": 0.0, "BD": 0.0, "CD": math.log(3 / 2)})


@pytest.mark.parametrize("power", [0.0, 0.5])
def test_swing_by_hand(power):
    # Only (u1, u2) share two items {A, B}; (u1, u3) share {B, C}: each adds w_u w_v / (1 + 2).
    seqs = hand_sequences()
    weights = user_weights(seqs.lengths, power)
    swing = swing_partial(seqs.user_item_matrix(), weights, alpha=1.0)
    w1, w2, w3 = (3.0**-power, 2.0**-power, 3.0**-power)
    expected = np.zeros((4, 4))
    expected[A, B] = w1 * w2 / 3
    expected[B, C] = w1 * w3 / 3
    assert np.allclose(swing.toarray(), expected)
    got = _scores(CoocScore.SWING, swing)
    assert got == pytest.approx({"AB": expected[A, B], "AC": 0.0, "BC": expected[B, C], "BD": 0.0, "CD": 0.0})


def _swing_by_definition(x, weights, alpha):
    sets = [set(np.flatnonzero(row)) for row in x]
    n_items = x.shape[1]
    out = np.zeros((n_items, n_items))
    for i, j in itertools.combinations(range(n_items), 2):
        users = [u for u, s in enumerate(sets) if i in s and j in s]
        for u, v in itertools.combinations(users, 2):
            out[i, j] += weights[u] * weights[v] / (alpha + len(sets[u] & sets[v]))
    return out


def test_swing_sharded_matches_definition():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 12)) < 0.3).astype(np.int32)
    xs = sp.csr_matrix(x)
    weights = user_weights(x.sum(axis=1), 0.5)
    expected = _swing_by_definition(x, weights, alpha=2.0)
    whole = swing_partial(xs, weights, 2.0, block_users=7)
    parts = sum_counts([swing_partial(xs, weights, 2.0, (a, b)) for a, b in ((0, 11), (11, 19), (19, 30))])
    assert np.allclose(whole.toarray(), expected)
    assert np.allclose(parts.toarray(), expected)
    assert np.allclose(lookup(whole, np.array([0, 1]), np.array([5, 7])), expected[[0, 1], [5, 7]])


def test_swing_item_sampling_caps_users_per_item():
    x = sp.csr_matrix(np.ones((50, 3), dtype=np.int32))
    capped = swing_matrix_input(x, max_users_per_item=10, seed=0)
    assert capped.sum(axis=0).tolist() == [[10, 10, 10]]
    assert (swing_matrix_input(x, 10, seed=0) != capped).nnz == 0
