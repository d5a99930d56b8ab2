"""Per-epoch batch plans by domain: one domain per global batch, or domains mixed.

GTE (Li et al. 2023, sec. 3.2) samples each batch from a single data source so in-batch
negatives are hard (they share the source's vocabulary) and draws sources with fixed
probabilities; ``domain`` mode does the same with recommendation domains. ``mixed`` mode
draws the epoch's rows domain by domain and shuffles them together.

The plan of an epoch is a pure function of (seed, epoch, rank) and the row domains: the
domain weights are frozen when the sampler is built and never change between epochs (the
reference implementation mutated its weights after the first epoch, so later epochs
silently sampled another distribution). In ``domain`` mode the schedule of domains
depends on (seed, epoch) only, so every worker draws the same domain at the same step
and the gathered global batch stays single-domain.

A domain's share of an epoch's rows is ``weight * rows`` normalised over domains; a domain
with fewer rows than its share is cycled through fresh permutations.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from gre_ray.train.config import SamplerMode


def quotas(shares: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``shares`` (largest remainder)."""
    raw = shares / shares.sum() * total
    out = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - out), kind="stable")
    out[order[: total - int(out.sum())]] += 1
    return out


def draw_cycled(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` entries of ``pool``: successive random permutations, concatenated and cut."""
    if n == 0:
        return pool[:0]
    rounds = -(-n // len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(rounds)])[:n]


class DomainBatchSampler:
    """The micro-batches of one worker, epoch by epoch.

    Args:
        row_domains: domain of each local row (this worker's shard).
        global_counts: rows per domain over all workers (sets the shares, identical on
            every worker).
        batch_size: rows per micro-batch.
        steps_per_epoch: micro-batches per epoch (the same on every worker).
        mode: ``mixed`` or ``domain``.
        weights: relative weight per domain (absent: 1).
        seed: base seed.
        rank: this worker's rank (decorrelates the rows different workers draw).
    """

    def __init__(
        self,
        row_domains: Sequence[str],
        global_counts: Mapping[str, int],
        batch_size: int,
        steps_per_epoch: int,
        mode: SamplerMode = SamplerMode.MIXED,
        weights: Mapping[str, float] | None = None,
        seed: int = 0,
        rank: int = 0,
    ) -> None:
        if len(row_domains) == 0:
            raise ValueError("the sampler needs at least one row")
        weights = dict(weights or {})
        self.domains: tuple[str, ...] = tuple(sorted(d for d, n in global_counts.items() if n > 0))
        shares = np.array([weights.get(d, 1.0) * global_counts[d] for d in self.domains], dtype=np.float64)
        if not shares.sum() > 0:
            raise ValueError("every domain has weight 0")
        shares.setflags(write=False)
        self.shares = shares  # frozen: (n_domains,) unnormalised shares, the same every epoch
        domains = np.asarray(row_domains, dtype=object)
        self.pools = {d: np.flatnonzero(domains == d) for d in self.domains}
        self.all_rows = np.arange(len(domains))
        self.batch_size, self.steps, self.mode = batch_size, steps_per_epoch, SamplerMode(mode)
        self.seed, self.rank = seed, rank

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The epoch's micro-batches: ``steps_per_epoch`` arrays of ``batch_size`` local row indices."""
        if self.mode is SamplerMode.DOMAIN:
            return self._by_domain(epoch)
        return self._mixed(epoch)

    def domain_schedule(self, epoch: int) -> list[str]:
        """Domain of each step in ``domain`` mode (the same on every worker)."""
        counts = quotas(self.shares, self.steps)
        order = np.repeat(np.arange(len(self.domains)), counts)
        order = np.random.default_rng([self.seed, epoch]).permutation(order)
        return [self.domains[i] for i in order]

    def _pool(self, domain: str) -> np.ndarray:
        pool = self.pools.get(domain)
        # A worker whose shard lacks the scheduled domain falls back to all its rows.
        return pool if pool is not None and len(pool) else self.all_rows

    def _by_domain(self, epoch: int) -> list[np.ndarray]:
        schedule = self.domain_schedule(epoch)
        batches: list[np.ndarray] = []
        for i, domain in enumerate(self.domains):
            steps = [s for s, d in enumerate(schedule) if d == domain]
            rng = np.random.default_rng([self.seed, epoch, self.rank, i])
            rows = draw_cycled(self._pool(domain), len(steps) * self.batch_size, rng)
            batches.extend(zip(steps, rows.reshape(len(steps), self.batch_size)))
        return [rows for _, rows in sorted(batches, key=lambda sb: sb[0])]

    def _mixed(self, epoch: int) -> list[np.ndarray]:
        counts = quotas(self.shares, self.steps * self.batch_size)
        parts = [
            draw_cycled(self._pool(d), int(c), np.random.default_rng([self.seed, epoch, self.rank, i]))
            for i, (d, c) in enumerate(zip(self.domains, counts))
        ]
        rows = np.random.default_rng([self.seed, epoch, self.rank]).permutation(np.concatenate(parts))
        return list(rows.reshape(self.steps, self.batch_size))
