"""A small, fixed pool of Ray actors that hold the co-occurring pair keys for the hard-negative filter.

Sharded pair mining (:mod:`gre_ray.wiring.pairs_sharded`) leaves each pair shard's
co-occurring keys in the object store. The negatives step asks, for every search round of
every block of anchors, which (anchor, neighbour) keys co-occur. Asking with one task per
shard per round starts a worker process for most of those tasks (at 100 M interactions:
50 shards × thousands of rounds, load average 24). Here the keys are loaded once into
``n`` long-lived actors (:class:`gre_ray.pairs.key_set.ShardedKeySet`, shards dealt
round-robin), and a round sends one batched call per actor.

The actors take no CPU slot (``num_cpus=0``: they answer while the negatives tasks that
call them hold the CPUs), so their number is set here, not by Ray's scheduler: one per
cluster CPU by default, never more than the pair shards, so a 2-core machine runs two
such processes whatever the shard count. They are spread over the nodes (``SPREAD``),
which spreads their memory too, and killed as soon as the negatives are found.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gre_ray.pairs import shards as sh
from gre_ray.pairs.key_set import ShardedKeySet, holder_of, shards_of_holder


class KeyHolder:
    """Actor body: the keys of the pair shards ``s % n_holders == h``."""

    def __init__(self, n_shards: int) -> None:
        self.keys = ShardedKeySet(n_shards)

    def load(self, shard: int, by_domain: dict[str, np.ndarray]) -> int:
        """Copy one shard's keys (read from the object store) into this process; returns bytes held."""
        self.keys.add(shard, by_domain)
        return self.keys.nbytes

    def contains(self, domain: str, keys: np.ndarray) -> np.ndarray:
        return self.keys.contains(domain, keys)


def default_holders(pair_shards: int) -> int:
    """One holder per CPU of the cluster, at most one per pair shard."""
    import ray

    return max(1, min(pair_shards, int(ray.cluster_resources().get("CPU", 1))))


class KeyHolders:
    """Start the holders and load every pair shard's keys into them; route membership questions.

    Args:
        together_refs: one object ref per pair shard, each a dict domain → sorted distinct keys.
        n_holders: actors to start (clipped to the number of shards).

    The object is passed by value into the negatives tasks (it carries actor handles only).
    """

    def __init__(self, together_refs: list[Any], n_holders: int) -> None:
        import ray

        self.n_shards = len(together_refs)
        self.n_holders = max(1, min(n_holders, self.n_shards))
        actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(KeyHolder)
        self.actors = [actor.remote(self.n_shards) for _ in range(self.n_holders)]
        # One call per shard (not one per holder with every shard as an argument), so a holder
        # has one shard's object in flight at a time while it copies the keys into its heap.
        self._loads = {h: [self.actors[h].load.remote(s, together_refs[s])
                           for s in shards_of_holder(h, self.n_shards, self.n_holders)]
                       for h in range(self.n_holders)}

    def ready(self) -> int:
        """Wait until every shard is loaded; returns the bytes of keys held over all holders."""
        import ray

        held = [ray.get(loads)[-1] for loads in self._loads.values()]  # each load returns its holder's total
        self._loads = {}
        return int(sum(held))

    def contains(self, domain: str, keys: np.ndarray) -> np.ndarray:
        """(n,) bool per pair key: one batched call per holder that owns some of ``keys``."""
        import ray

        keys = np.asarray(keys, dtype=np.int64)
        hit = np.zeros(len(keys), dtype=bool)
        if len(keys) == 0:
            return hit
        split = sh.split_by_shard(holder_of(keys, self.n_shards, self.n_holders), self.n_holders)
        asked = [(at, self.actors[h].contains.remote(domain, keys[at])) for h, at in enumerate(split) if len(at)]
        for (at, _), answer in zip(asked, ray.get([ref for _, ref in asked])):
            hit[at] = answer
        return hit

    def stop(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []
