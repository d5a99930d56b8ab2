"""The partner-separation measure of :mod:`gre_ray.demo.transfer` on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gre_ray.demo.transfer import separation, shared_pairs


def _ground_truth() -> pd.DataFrame:
    """Two complementary category pairs: a-b (counted as shared) and c-d (own), 4 partners each."""
    rows = []
    for left, right in (("a", "b"), ("c", "d")):
        for k in range(4):
            rows.append((f"{left}{k}", left, f"{right}{k}", right))
            rows.append((f"{right}{k}", right, f"{left}{k}", left))
    return pd.DataFrame(rows, columns=["item_id", "category", "partner_id", "partner_category"])


def test_partners_placed_together_separate_perfectly_and_scattered_ones_do_not():
    gt = _ground_truth()
    ids = gt["item_id"].tolist()
    vectors = np.random.default_rng(0).normal(size=(len(ids), 64))
    for k in range(4):  # shared partners a_k, b_k get (almost) the same vector; c, d stay random
        vectors[ids.index(f"b{k}")] = vectors[ids.index(f"a{k}")] + 0.01
    result = separation(ids, vectors, gt, {frozenset(("a", "b"))})
    assert result.shared_auc == pytest.approx(1.0)
    assert result.own_auc < 0.9
    assert abs(result.unrelated_cosine) < 0.3  # random 64-d vectors are near orthogonal


def test_each_benchmark_domain_has_one_shared_pair():
    assert shared_pairs("kitchen") == {frozenset(("stoves", "cookware"))}
    assert shared_pairs("outdoor") == {frozenset(("stoves", "cookware"))}
