"""De-duplication: planted exact copies and near-copies are caught, and only those."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.coreset.dedup import exact_duplicate_keep, near_duplicate_keep, normalize_rows
from gre_ray.coreset.quality import text_hash


def test_exact_copies_up_to_case_punctuation_and_spacing():
    texts = ["The Great Book", "the great book!!", "  THE   great-book ", "The Great Books", "Ｔｈｅ great book"]
    keep = exact_duplicate_keep(np.array([text_hash(t) for t in texts]))
    assert keep.tolist() == [True, False, False, True, False]  # NFKC folds full-width letters


def test_exact_dedup_scope():
    hashes = np.array(["h1", "h1", "h2", "h1"])
    domains = np.array(["a", "b", "b", "b"])
    assert exact_duplicate_keep(hashes).tolist() == [True, False, True, False]
    assert exact_duplicate_keep(hashes, domains).tolist() == [True, True, True, False]


def _with_planted_copies(seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, 32)).astype(np.float32)
    copies = [250, 260, 270, 280]
    for c, src in zip(copies, [3, 50, 99, 3]):
        x[c] = x[src] + rng.standard_normal(32).astype(np.float32) * 0.01
    return normalize_rows(x), copies


@pytest.mark.parametrize("exact_limit", [100_000, 50])  # flat index, then the IVF path
def test_near_copies_are_removed_and_nothing_else(exact_limit):
    x, copies = _with_planted_copies()
    keep, pairs = near_duplicate_keep(x, 0.98, exact_limit=exact_limit, nprobe=64)
    assert np.flatnonzero(~keep).tolist() == copies
    assert pairs >= 4
    sims = x[keep] @ x[keep].T
    np.fill_diagonal(sims, 0)
    assert sims.max() <= 0.98  # no two survivors are near duplicates


def test_greedy_keeps_both_ends_of_a_chain():
    # a ~ b (cos 0.995), b ~ c (0.995), a and c at cos 0.98: b goes, a and c stay
    angles = np.array([0.0, 0.1, 0.2])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    keep, pairs = near_duplicate_keep(x, 0.99)
    assert keep.tolist() == [True, False, True] and pairs == 2


def test_exact_vector_copies_and_tiny_inputs():
    x = normalize_rows(np.array([[1, 0], [1, 0], [0, 1]], np.float32))
    assert near_duplicate_keep(x, 0.5)[0].tolist() == [True, False, True]
    assert near_duplicate_keep(x[:1], 0.5)[0].tolist() == [True]
    assert normalize_rows(np.zeros((1, 3), np.float32)).tolist() == [[0, 0, 0]]
