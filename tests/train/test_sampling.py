"""Domain batch plans: deterministic by seed and epoch, single-domain batches, fixed weights."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gre_ray.train.config import SamplerMode
from gre_ray.train.sampling import DomainBatchSampler, quotas

DOMAINS = ["books"] * 60 + ["games"] * 30 + ["video"] * 10
COUNTS = {"books": 60, "games": 30, "video": 10}


def sampler(mode=SamplerMode.MIXED, weights=None, rank=0, steps=10, seed=0) -> DomainBatchSampler:
    return DomainBatchSampler(DOMAINS, COUNTS, batch_size=8, steps_per_epoch=steps, mode=mode, weights=weights, seed=seed, rank=rank)


@pytest.mark.parametrize("mode", list(SamplerMode))
def test_plans_are_deterministic_by_seed_and_epoch(mode):
    a, b = sampler(mode), sampler(mode)
    assert all(np.array_equal(x, y) for x, y in zip(a.epoch(3), b.epoch(3)))
    assert all(np.array_equal(x, y) for x, y in zip(a.epoch(3), a.epoch(3)))  # asking twice changes nothing
    assert any(not np.array_equal(x, y) for x, y in zip(a.epoch(0), a.epoch(1)))
    assert any(not np.array_equal(x, y) for x, y in zip(a.epoch(0), sampler(mode, seed=1).epoch(0)))
    plan = a.epoch(0)
    assert len(plan) == 10 and all(len(batch) == 8 for batch in plan)


def test_domain_mode_batches_hold_one_domain_and_workers_agree_on_the_schedule():
    plans = [sampler(SamplerMode.DOMAIN, rank=r).epoch(2) for r in range(2)]
    labels = np.asarray(DOMAINS)
    for r in range(2):
        assert all(len(set(labels[batch])) == 1 for batch in plans[r])
    schedule = [labels[b[0]] for b in plans[0]]
    assert schedule == [labels[b[0]] for b in plans[1]]  # the same domain at each step on every worker
    assert not all(np.array_equal(x, y) for x, y in zip(*plans))  # but different rows


def test_weights_stay_the_same_every_epoch():
    s = sampler(SamplerMode.MIXED, weights={"video": 6.0}, steps=20)
    shares = s.shares.copy()
    labels = np.asarray(DOMAINS)
    per_epoch = [Counter(labels[np.concatenate(s.epoch(e))]) for e in range(4)]
    assert all(c == per_epoch[0] for c in per_epoch)  # exact quotas: identical every epoch
    # video: weight 6 x 10 rows = 60 = books' 60 x 1; games 30 -> shares 60:30:60 of 160 rows
    assert per_epoch[0] == {"books": 64, "games": 32, "video": 64}
    np.testing.assert_array_equal(s.shares, shares)
    with pytest.raises(ValueError):
        s.shares[0] = 1.0  # frozen


def test_domain_schedule_follows_weights_every_epoch():
    s = sampler(SamplerMode.DOMAIN, steps=12)
    for epoch in range(3):
        assert Counter(s.domain_schedule(epoch)) == {"books": 7, "games": 4, "video": 1}


def test_a_zero_weight_domain_is_never_drawn():
    s = sampler(SamplerMode.MIXED, weights={"games": 0.0})
    labels = np.asarray(DOMAINS)
    assert "games" not in set(labels[np.concatenate(s.epoch(0))])


def test_quotas_sum_to_total():
    assert quotas(np.array([1.0, 1.0, 1.0]), 10).sum() == 10
    assert list(quotas(np.array([3.0, 1.0]), 8)) == [6, 2]
