"""Domain budgets: hand-computed water-filling examples, min/max, and the out-of-range cases."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.coreset.budget import allocate, domain_weights
from gre_ray.coreset.config import BudgetConfig, BudgetMode
from gre_ray.errors import ConfigError

SIZES = {"a": 100, "b": 50, "c": 10}


def test_proportional_split():
    # 80 * (100, 50, 10) / 160
    assert allocate(SIZES, 80, mode=BudgetMode.PROPORTIONAL).counts == {"a": 50, "b": 25, "c": 5}


def test_uniform_split_hands_a_capped_domains_excess_to_the_others():
    # 90 / 3 = 30 each, but c has 10: the other 80 split evenly
    assert allocate(SIZES, 90, mode=BudgetMode.UNIFORM).counts == {"a": 40, "b": 40, "c": 10}


def test_temperature_split_with_largest_remainder():
    # sqrt sizes 10, 7.07, 3.16 -> c's share 12.5 > 10 available; 70 left split 10 : 7.07
    # -> 41.01, 28.99 -> floors 41, 28, remainder 1 to b
    alloc = allocate(SIZES, 80, mode=BudgetMode.TEMPERATURE, alpha=0.5)
    assert alloc.counts == {"a": 41, "b": 29, "c": 10}
    assert alloc.weights["a"] == pytest.approx(10 / (10 + 50**0.5 + 10**0.5))


def test_minimum_per_domain():
    # proportional 173.9 / 17.4 / 8.7; b and c raised to 30; a gets the remaining 140
    alloc = allocate({"a": 1000, "b": 100, "c": 50}, 200, mode=BudgetMode.PROPORTIONAL, min_per_domain=30)
    assert alloc.counts == {"a": 140, "b": 30, "c": 30}
    assert alloc.notes == []


def test_maximum_per_domain():
    # a capped at 60; the other 90 split 100 : 50 -> 60 (b's cap) and 30
    alloc = allocate({"a": 1000, "b": 100, "c": 50}, 150, mode=BudgetMode.PROPORTIONAL, max_per_domain=60)
    assert alloc.counts == {"a": 60, "b": 60, "c": 30}


def test_minimum_larger_than_a_domain_gives_it_everything_it_has():
    alloc = allocate({"a": 500, "b": 5}, 100, mode=BudgetMode.PROPORTIONAL, min_per_domain=20)
    assert alloc.counts == {"a": 95, "b": 5}


@pytest.mark.parametrize("mode", list(BudgetMode))
def test_total_met_and_bounds_respected_on_random_instances(mode):
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = {f"d{i}": int(s) for i, s in enumerate(rng.integers(0, 400, size=rng.integers(1, 8)))}
        lo, hi = int(rng.integers(0, 30)), int(rng.integers(30, 200))
        total = int(rng.integers(1, 900))
        alloc = allocate(sizes, total, mode=mode, alpha=0.3, min_per_domain=lo, max_per_domain=hi)
        caps = {d: min(n, hi) for d, n in sizes.items()}
        floors = {d: min(lo, caps[d]) for d in sizes}
        assert all(floors[d] <= c <= caps[d] for d, c in alloc.counts.items())
        if sum(floors.values()) <= total <= sum(caps.values()):
            assert alloc.total == total
        elif total > sum(caps.values()):
            assert alloc.counts == caps and any("exceeds" in n for n in alloc.notes)
        else:
            assert alloc.counts == floors and any("minimums" in n for n in alloc.notes)


def test_budget_beyond_survivors_and_empty_domains_are_noted():
    alloc = allocate({"a": 10, "b": 0, "c": 5}, 100, mode=BudgetMode.UNIFORM)
    assert alloc.counts == {"a": 10, "b": 0, "c": 5}
    assert any("'b' has no texts" in n for n in alloc.notes)
    assert any("budget total 100 exceeds the 15 texts" in n for n in alloc.notes)


def test_weights():
    np.testing.assert_allclose(domain_weights([4, 0, 9], BudgetMode.TEMPERATURE, 0.5), [2, 0, 3])
    np.testing.assert_allclose(domain_weights([4, 0, 9], BudgetMode.UNIFORM), [1, 0, 1])


@pytest.mark.parametrize("kwargs,match", [
    ({"total": 0}, "total"),
    ({"alpha": 1.5}, "alpha"),
    ({"min_per_domain": -1}, "min_per_domain"),
    ({"min_per_domain": 10, "max_per_domain": 5}, "below min_per_domain"),
])
def test_config_mistakes_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BudgetConfig(**kwargs)


def test_config_mistakes_name_the_key_through_the_loader():
    from gre_ray.root_config import load_config

    with pytest.raises(ConfigError, match="coreset.budget: alpha must be in"):
        load_config(None, ["coreset.budget.alpha=2"])
    with pytest.raises(ConfigError, match="did you mean 'near_dup_threshold'"):
        load_config(None, ["coreset.quality.near_dup_treshold=0.9"])
    with pytest.raises(ConfigError, match="candidate_factor"):
        load_config(None, ["coreset.selection.candidate_factor=0.5"])
