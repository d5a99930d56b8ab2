"""The sort-based unique helpers agree with ``np.unique``."""

from __future__ import annotations

import numpy as np

from gre_ray.pairs.arrays import first_occurrences, unique_inverse, unique_sorted


def test_helpers_match_numpy():
    values = np.random.default_rng(0).integers(0, 50, 500)
    uniq, first = np.unique(values, return_index=True)
    assert np.array_equal(unique_sorted(values), uniq)
    assert np.array_equal(first_occurrences(values), np.sort(first))
    got, inverse = unique_inverse(values)
    assert np.array_equal(got, uniq) and np.array_equal(got[inverse], values)
    texts = np.array(["b", "a", "b", "c"])
    assert unique_inverse(texts)[1].tolist() == [1, 0, 1, 2]
    empty = np.zeros(0, dtype=np.int64)
    assert len(unique_sorted(empty)) == len(first_occurrences(empty)) == len(unique_inverse(empty)[1]) == 0
