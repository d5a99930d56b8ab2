"""Co-occurring key membership held by a few holders (:mod:`gre_ray.pairs.key_set`) against a Python set."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.pairs import shards as sh
from gre_ray.pairs.key_set import ShardedKeySet, holder_of, shards_of_holder


def _by_shard(keys: np.ndarray, n_shards: int) -> list[np.ndarray]:
    shard = sh.pair_shard(keys, n_shards)
    return [np.unique(keys[shard == s]) for s in range(n_shards)]


@pytest.mark.parametrize("n_shards, n_holders", [(1, 1), (5, 2), (7, 3), (4, 4)])
def test_membership_equals_a_python_set(n_shards, n_holders):
    rng = np.random.default_rng(3)
    n_items = 300
    held = {"books": np.unique(rng.integers(0, n_items * n_items, 2000)), "games": np.array([7, 90_001], np.int64)}
    parts = {d: _by_shard(k, n_shards) for d, k in held.items()}
    sets = [ShardedKeySet(n_shards) for _ in range(n_holders)]
    for h, ks in enumerate(sets):
        for s in shards_of_holder(h, n_shards, n_holders):
            ks.add(s, {d: parts[d][s] for d in held})
    assert sorted(s for h in range(n_holders) for s in shards_of_holder(h, n_shards, n_holders)) == list(range(n_shards))
    assert sum(ks.nbytes for ks in sets) == 8 * sum(len(k) for k in held.values())

    # Half the questions are held keys, half random ones (mostly not held); the largest key too.
    asked = np.r_[rng.choice(held["books"], 500), rng.integers(0, n_items * n_items, 500), held["books"].max(), 0]
    for domain in ("books", "games", "music"):
        truth = set(held.get(domain, np.zeros(0, np.int64)).tolist())
        owner = holder_of(asked, n_shards, n_holders)
        got = np.zeros(len(asked), dtype=bool)
        for h, ks in enumerate(sets):
            at = np.flatnonzero(owner == h)
            got[at] = ks.contains(domain, asked[at])
        assert got.tolist() == [int(k) in truth for k in asked], domain
    assert sets[0].contains("books", np.zeros(0, np.int64)).shape == (0,)


def test_a_key_of_a_shard_not_held_is_an_error():
    keys = np.arange(50, dtype=np.int64)
    ks = ShardedKeySet(3)
    ks.add(0, {"books": _by_shard(keys, 3)[0]})
    other = keys[sh.pair_shard(keys, 3) == 1][:1]
    with pytest.raises(KeyError, match="pair shard 1 is not held here"):
        ks.contains("books", other)


def test_added_keys_are_a_copy():
    keys = np.array([3, 8, 11], np.int64)
    ks = ShardedKeySet(1)
    ks.add(0, {"books": keys})
    keys[:] = 0
    assert ks.contains("books", np.array([3, 8, 11, 0])).tolist() == [True, True, True, False]
