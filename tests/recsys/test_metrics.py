"""Metrics against hand-computed values, sklearn, and the naive full score matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from gre_ray.recsys.metrics import (
    Ties,
    auc,
    full_ranking_ranks,
    grouped_auc,
    log_loss,
    naive_ranks,
    ranking_metrics,
)


def csr(lists):
    indptr = np.cumsum([0] + [len(x) for x in lists]).astype(np.int64)
    items = np.array([i for x in lists for i in x], dtype=np.int64)
    return indptr, items


def test_hand_computed_ranks_and_metrics():
    # 6 items (1..6, 0 = padding); one-dimensional vectors, so scores are user * item.
    items = torch.tensor([[0.0], [6.0], [5.0], [4.0], [3.0], [2.0], [1.0]])
    users = torch.tensor([[1.0], [1.0], [-1.0]])
    targets = np.array([3, 3, 1])
    indptr, hist = csr([[], [1, 2, 2, 3], [6]])  # user 1 saw 1, 2 (twice) and the target 3 itself
    ranks = full_ranking_ranks(users, items, targets, indptr, hist)
    # user 0: items 1, 2 score higher → 2; user 1: both masked → 0;
    # user 2: items 2..5 beat item 1 (6 is masked) → 4
    np.testing.assert_array_equal(ranks, [2, 0, 4])
    m = ranking_metrics(ranks, ks=(1, 3, 5))
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@3"] == pytest.approx(2 / 3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(4) + 1) / 3)
    assert m["ndcg@5"] == pytest.approx((1 / math.log2(4) + 1 + 1 / math.log2(6)) / 3)
    assert m["mrr"] == pytest.approx((1 / 3 + 1 + 1 / 5) / 3)


def test_ties_pessimistic_and_average():
    items = torch.tensor([[0.0], [1.0], [1.0], [1.0], [2.0]])
    users = torch.ones(1, 1)
    indptr, hist = csr([[]])
    target = np.array([2])  # ties with items 1 and 3; item 4 is above
    assert full_ranking_ranks(users, items, target, indptr, hist, ties=Ties.PESSIMISTIC)[0] == 3
    assert full_ranking_ranks(users, items, target, indptr, hist, ties=Ties.AVERAGE)[0] == 2
    flat = torch.zeros(5, 1)  # a degenerate model scoring everything equal is ranked last
    assert full_ranking_ranks(users, flat, target, indptr, hist)[0] == 3


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("user_chunk,item_chunk", [(1, 37), (16, 5), (7, 13), (50, 1000), (1000, 64)])
def test_chunked_equals_naive(user_chunk, item_chunk, integer):
    rng = np.random.default_rng(user_chunk * 31 + item_chunk)
    n_users, n_items, dim = 50, 300, 8
    if integer:  # small integers: exact scores with many ties
        users = torch.from_numpy(rng.integers(-1, 2, (n_users, dim)).astype(np.float32))
        items = torch.from_numpy(rng.integers(-1, 2, (n_items + 1, dim)).astype(np.float32))
    else:
        users = torch.randn(n_users, dim, generator=torch.Generator().manual_seed(1))
        items = torch.randn(n_items + 1, dim, generator=torch.Generator().manual_seed(2))
    targets = rng.integers(1, n_items + 1, n_users)
    indptr, hist = csr([list(rng.integers(1, n_items + 1, rng.integers(0, 40))) for _ in range(n_users)])
    for ties in Ties:
        chunked = full_ranking_ranks(
            users, items, targets, indptr, hist, user_chunk=user_chunk, item_chunk=item_chunk, ties=ties
        )
        np.testing.assert_array_equal(chunked, naive_ranks(users @ items.T, targets, indptr, hist, ties=ties))


def test_chunked_equals_naive_at_scale():
    # 100k items of dimension 64: near-ties at float32 rounding occur for several users, so
    # the target score must come from the same matrix product as the competitors' scores
    gen = torch.Generator().manual_seed(3)
    users, items = torch.randn(512, 64, generator=gen), torch.randn(100_001, 64, generator=gen)
    rng = np.random.default_rng(3)
    targets = rng.integers(1, 100_001, 512)
    indptr, hist = csr([list(rng.integers(1, 100_001, 20)) for _ in range(512)])
    chunked = full_ranking_ranks(users, items, targets, indptr, hist, user_chunk=200, item_chunk=30_000)
    np.testing.assert_array_equal(chunked, naive_ranks(users @ items.T, targets, indptr, hist))


def test_history_masking_excludes_seen_items():
    rng = np.random.default_rng(0)
    items = torch.from_numpy(rng.normal(size=(101, 4)).astype(np.float32))
    users = torch.from_numpy(rng.normal(size=(1, 4)).astype(np.float32))
    scores = (users @ items.T)[0].numpy()
    order = np.argsort(-scores[1:]) + 1  # items by descending score
    target = np.array([order[10]])
    no_mask = full_ranking_ranks(users, items, target, *csr([[]]))
    masked = full_ranking_ranks(users, items, target, *csr([list(order[:5]) + list(order[50:60])]))
    assert no_mask[0] == 10 and masked[0] == 5  # only the 5 masked items above the target stop counting


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=500) + labels, 1)  # rounding makes many ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([0, 0, 1], [0.1, 0.2, 0.3]) == 1.0
    with pytest.raises(ValueError, match="one class"):
        auc([1, 1], [0.2, 0.3])


def test_grouped_auc_is_sample_weighted_mean_of_user_aucs():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 20, 400)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.normal(size=400) + 0.5 * labels, 1)
    labels[groups == 3] = 1  # one-class users are skipped
    values, weights = [], []
    for g in np.unique(groups):
        sel = groups == g
        if 0 < labels[sel].sum() < sel.sum():
            values.append(roc_auc_score(labels[sel], scores[sel]))
            weights.append(sel.sum())
    assert grouped_auc(labels, scores, groups) == pytest.approx(
        np.average(values, weights=weights), abs=1e-12
    )


def test_log_loss_matches_sklearn_and_clips():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    probs = rng.uniform(0.001, 0.999, 300)
    assert log_loss(labels, probs) == pytest.approx(sk_log_loss(labels, probs), rel=1e-12)
    assert log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7), rel=1e-6)
