"""Membership of co-occurring pair keys held by a few long-lived holders, several pair shards each.

The hard-negative filter (:class:`gre_ray.pairs.negatives.Cooccurring`) asks, for every
candidate neighbour of an anchor, whether the two items ever shared a user. In sharded pair
mining those pairs live in the pair shards (a pair's shard is a hash of its key,
:func:`gre_ray.pairs.shards.pair_shard`). Rather than one process per shard, a small fixed
number of holders each keeps the keys of the shards ``s`` with ``s % holders == h``
(:func:`holder_of`), as one sorted ``uint64`` array per (shard, domain): 8 bytes per pair,
no per-key objects, so the ~350 M co-occurring pairs of 100 M interactions fit in ~2.8 GB
spread over the holders. A question is answered by binary search (``np.searchsorted``) in
the arrays of the shards its keys belong to.

The Ray actors that hold a :class:`ShardedKeySet` each are in :mod:`gre_ray.wiring.pair_key_holders`.
"""

from __future__ import annotations

import numpy as np

from gre_ray.pairs import shards as sh


def holder_of(keys: np.ndarray, n_shards: int, n_holders: int) -> np.ndarray:
    """(n,) int64 holder of each pair key: its pair shard, dealt round-robin over the holders."""
    return sh.pair_shard(np.asarray(keys, dtype=np.int64), n_shards) % n_holders


def shards_of_holder(holder: int, n_shards: int, n_holders: int) -> list[int]:
    """The pair shards whose keys ``holder`` keeps (the inverse of :func:`holder_of`)."""
    return list(range(holder, n_shards, n_holders))


class ShardedKeySet:
    """Sorted pair keys of some pair shards, per domain; membership by binary search.

    Args:
        n_shards: the number of pair shards of the run (keys are routed by
            :func:`gre_ray.pairs.shards.pair_shard` over this many shards).
    """

    def __init__(self, n_shards: int) -> None:
        self.n_shards = n_shards
        self.keys: dict[int, dict[str, np.ndarray]] = {}

    def add(self, shard: int, by_domain: dict[str, np.ndarray]) -> None:
        """Keep a copy of one shard's keys (each domain's: distinct, ascending, non-negative)."""
        self.keys[shard] = {d: np.array(k, dtype=np.uint64, copy=True) for d, k in by_domain.items()}

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes for by_domain in self.keys.values() for k in by_domain.values())

    def contains(self, domain: str, keys: np.ndarray) -> np.ndarray:
        """(n,) bool: is each pair key among the domain's keys? Every key must belong to an added shard."""
        keys = np.asarray(keys, dtype=np.int64)
        out = np.zeros(len(keys), dtype=bool)
        if len(keys) == 0:
            return out
        shard = sh.pair_shard(keys, self.n_shards)
        for s, at in enumerate(sh.split_by_shard(shard, self.n_shards)):
            if len(at) == 0:
                continue
            if s not in self.keys:
                raise KeyError(f"pair shard {s} is not held here (held: {sorted(self.keys)})")
            held = self.keys[s].get(domain)
            if held is None or len(held) == 0:
                continue
            asked = keys[at].astype(np.uint64)
            pos = np.minimum(np.searchsorted(held, asked), len(held) - 1)
            out[at] = held[pos] == asked
        return out
