"""Per-item top-k and thresholds chosen by quantile, target count, fixed and per-domain values."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.pairs.config import ThresholdConfig, ThresholdMode
from gre_ray.pairs.thresholds import choose_thresholds, top_k_mask


def test_top_k_keeps_a_pair_in_either_items_top_k():
    # Item 0's partners by score: 1 (0.9), 2 (0.8), 3 (0.1). Item 3 has one partner only.
    rows = np.array([0, 0, 0, 1])
    cols = np.array([1, 2, 3, 2])
    scores = np.array([0.9, 0.8, 0.1, 0.05])
    # k=1: (0,1) best of 0 and 1; (0,2) best of 2; (0,3) best of 3; (1,2) nobody's best.
    assert top_k_mask(rows, cols, scores, 1).tolist() == [True, True, True, False]
    assert top_k_mask(rows, cols, scores, None).all()
    assert top_k_mask(rows, cols, scores, 3).all()


def test_top_k_ties_broken_by_partner_id_not_by_order():
    rows, cols, scores = np.array([0, 0, 0]), np.array([3, 1, 2]), np.array([0.5, 0.5, 0.5])
    mask = top_k_mask(rows, cols, scores, 1)
    # Item 0 keeps partner 1; items 1, 2, 3 each keep their only partner 0.
    assert mask.all()
    rows, cols = np.array([0, 0, 0, 4, 4, 4]), np.array([5, 6, 7, 5, 6, 7])
    mask = top_k_mask(rows, cols, np.ones(6), 1)
    perm = np.array([5, 3, 1, 4, 0, 2])
    assert np.array_equal(top_k_mask(rows[perm], cols[perm], np.ones(6), 1), mask[perm])


def test_quantile_thresholds():
    cooc = np.arange(100, dtype=float)
    text = np.linspace(0, 1, 100)
    chosen = choose_thresholds(cooc, text, "d", ThresholdConfig(value=0.5), ThresholdConfig(value=0.1))
    assert chosen.cooc_min == pytest.approx(49.5)
    assert chosen.text_min == pytest.approx(0.1)
    kept = (cooc >= chosen.cooc_min) & (text >= chosen.text_min)
    assert kept.sum() == 50


def test_target_count_after_the_text_threshold():
    rng = np.random.default_rng(0)
    cooc, text = rng.random(1000), rng.random(1000)
    spec = ThresholdConfig(mode=ThresholdMode.TARGET_COUNT, target_pairs=120)
    chosen = choose_thresholds(cooc, text, "d", spec, ThresholdConfig(value=0.25))
    kept = (cooc >= chosen.cooc_min) & (text >= chosen.text_min)
    assert kept.sum() == 120
    few = choose_thresholds(cooc[:50], text[:50], "d", ThresholdConfig(mode="target_count", target_pairs=500), ThresholdConfig())
    assert ((cooc[:50] >= few.cooc_min) & (text[:50] >= few.text_min)).sum() == 50
    assert "all 50" in few.cooc_rule


def test_fixed_and_per_domain_values():
    cooc, text = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.4, 0.6])
    fixed = ThresholdConfig(mode=ThresholdMode.FIXED, value=0.4, per_domain={"books": 0.8})
    chosen = choose_thresholds(cooc, text, "games", fixed, ThresholdConfig(mode="fixed", value=0.3))
    assert (chosen.cooc_min, chosen.text_min) == (0.4, 0.3)
    assert choose_thresholds(cooc, text, "books", fixed, ThresholdConfig()).cooc_min == 0.8
    # A pinned domain wins over automatic choice for the others.
    auto = ThresholdConfig(mode=ThresholdMode.QUANTILE, value=0.5, per_domain={"books": 0.05})
    assert choose_thresholds(cooc, text, "books", auto, ThresholdConfig()).cooc_min == 0.05


def test_no_candidates_gives_a_threshold_nothing_passes():
    empty = np.zeros(0)
    chosen = choose_thresholds(empty, empty, "d", ThresholdConfig(value=0.5), ThresholdConfig(value=0.1))
    assert chosen.as_dict()["cooc_min"] is None
