"""Held-out split by hash and text-to-text Recall@K against the naive computation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from gre_ray.train.heldout import heldout_mask, pair_keys, recall_at_k, retrieval_task
from gre_ray.train.rows import split_pairs


def test_split_is_order_free_and_keeps_reversed_pairs_together():
    n = 400
    a = [f"i{k}" for k in range(n)]
    b = [f"i{k + 1}" for k in range(n)]
    keys = pair_keys(["d"] * n, a, b)
    mask = heldout_mask(keys, 0.25, seed=3)
    assert 60 < mask.sum() < 140
    assert np.array_equal(heldout_mask(keys[::-1], 0.25, 3), mask[::-1])
    assert np.array_equal(heldout_mask(pair_keys(["d"] * n, b, a), 0.25, 3), mask)
    assert not np.array_equal(heldout_mask(keys, 0.25, 4), mask)


def test_split_pairs_drops_self_pairs_and_short_negative_lists():
    table = pa.table(
        {
            "domain": ["d"] * 4,
            "item_a": ["a", "b", "c", "e"],
            "item_b": ["a", "c", "d", "f"],
            "neg_texts": [["x"], ["x"], [], None],
        }
    )
    split = split_pairs(table, 0.01, 0, hard_negatives=1)
    assert not split.train[0] and not split.heldout[0]
    assert split.dropped["item_a equals item_b"] == 1
    assert split.dropped["fewer than 1 hard negatives"] == int(split.train.size - split.train.sum() - split.heldout.sum() - 1)


def test_recall_at_k_against_naive_loop():
    torch.manual_seed(0)
    items_a = ["q0", "q0", "q1", "q2"]
    items_b = ["c0", "c1", "c2", "q0"]
    queries, corpus, relevant = retrieval_task(items_a, items_b)
    assert queries == ["q0", "q1", "q2"] and corpus == ["c0", "c1", "c2", "q0"]
    q = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
    c = torch.nn.functional.normalize(torch.randn(4, 5), dim=-1)
    exclude = [3, None, None]  # q0 is also in the corpus: never retrieve itself
    got = recall_at_k(q, c, relevant, k=2, exclude=exclude)
    scores = (q @ c.T).tolist()
    hits = []
    for i, rel in enumerate(relevant):
        ranked = sorted((j for j in range(4) if j != exclude[i]), key=lambda j: -scores[i][j])[:2]
        hits.append(len(set(ranked) & rel) / min(len(rel), 2))
    assert got == pytest.approx(float(np.mean(hits)))
    assert recall_at_k(c[[0, 2, 3]], c, relevant, k=1) == 1.0  # a hit per query: at most k can be found
