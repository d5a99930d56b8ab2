"""Two-stage k-center for sets too large for one worker: shard candidates, then a global pass.

The set is split into shards (a seeded random partition); each shard runs farthest-point
greedy (:func:`gre_ray.coreset.kcenter.kcenter_greedy`) for ``ceil(factor * k)`` candidates,
and greedy runs again over the union of the candidates to choose the final ``k``. This is
the composable-coreset scheme for k-center (Malkomes et al., NeurIPS 2015, "Fast
Distributed k-Center Clustering with Outliers on Massive Data"; Indyk et al., PODS 2014).

Guarantee (factor >= 1). Let ``r*`` be the optimal k-center radius of the whole set. Greedy
on any subset covers it within ``2 r*`` (k+1 points pairwise more than ``2 r*`` apart would
put two in one optimal ball of radius ``r*``), so every point is within ``2 r*`` of its
shard's candidates and every candidate within ``2 r*`` of a final center: the radius is at
most ``4 r*``, hence at most 4x the radius of exact greedy (which is at least ``r*``). In
practice it is close to exact greedy (see tests/coreset/test_two_stage.py).

The returned radius is the bound ``max shard radius + union radius`` (``radius_is_bound``);
computing the exact one would cost another ``O(n k d)`` pass over the whole set.
"""

from __future__ import annotations

import math

import numpy as np

from gre_ray.coreset.config import FirstCenter
from gre_ray.coreset.kcenter import Selection, keep_all, kcenter_greedy


def shard_rows(n: int, num_shards: int, seed: int) -> list[np.ndarray]:
    """A seeded partition of ``range(n)`` into ``num_shards`` near-equal sorted row sets."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, min(num_shards, max(n, 1)))]


def shard_seed(seed: int, shard: int) -> int:
    """The first-center seed of shard ``shard`` (independent streams per shard)."""
    return int(np.random.SeedSequence([seed, shard]).generate_state(1)[0])


def num_candidates(k: int, factor: float) -> int:
    """Candidates each shard proposes for a final budget ``k``."""
    return max(1, math.ceil(factor * k))


def shard_candidates(
    x: np.ndarray,
    rows: np.ndarray,
    k: int,
    *,
    factor: float = 1.0,
    first: FirstCenter = FirstCenter.SEEDED,
    seed: int = 0,
    chunk_size: int = 16_384,
    block: int = 256,
) -> tuple[np.ndarray, float]:
    """Stage one for one shard.

    Args:
        x: (n, d) the whole set (read only; a shared object in the Ray stage).
        rows: (m,) rows of ``x`` in this shard.
        k: the final budget.

    Returns:
        (candidate rows of ``x``, the shard's covering radius).
    """
    sel = kcenter_greedy(x[rows], num_candidates(k, factor), first=first, seed=seed, chunk_size=chunk_size, block=block)
    return rows[sel.indices], sel.radius


def merge_candidates(
    x: np.ndarray,
    candidates: list[np.ndarray],
    shard_radii: list[float],
    k: int,
    *,
    first: FirstCenter = FirstCenter.SEEDED,
    seed: int = 0,
    chunk_size: int = 16_384,
    block: int = 256,
) -> Selection:
    """Stage two: greedy over the union of the shards' candidates.

    Returns:
        The selection in rows of ``x``; ``radius`` is the bound described in the module
        docstring and ``extra`` records the union size and the shard radii.
    """
    union = np.unique(np.concatenate(candidates)) if candidates else np.zeros(0, np.int64)  # (u,)
    sel = kcenter_greedy(x[union], k, first=first, seed=seed, chunk_size=chunk_size, block=block)
    worst_shard = max(shard_radii, default=0.0)
    return Selection(
        indices=union[sel.indices],
        distances=sel.distances,
        radius=float(worst_shard + sel.radius),
        radius_is_bound=True,
        message=sel.message,
        extra={"union": int(len(union)), "shards": len(candidates), "shard_radius_max": float(worst_shard)},
    )


def kcenter_two_stage(
    x: np.ndarray,
    k: int,
    *,
    num_shards: int,
    factor: float = 1.0,
    first: FirstCenter = FirstCenter.SEEDED,
    seed: int = 0,
    chunk_size: int = 16_384,
    block: int = 256,
) -> Selection:
    """Both stages in one process (the Ray stage runs the shards as separate tasks).

    Args:
        x: (n, d) vectors.
        k: centers to choose; ``k >= n`` keeps everything.
        num_shards: shards of stage one.
        factor: candidates per shard, as a multiple of ``k`` (>= 1 for the 4x bound).

    Returns:
        The selection, with the bound on its covering radius.
    """
    n = len(x)
    if k >= n:
        return keep_all(n, k)
    parts = [
        shard_candidates(
            x, rows, k, factor=factor, first=first, seed=shard_seed(seed, i), chunk_size=chunk_size, block=block
        )
        for i, rows in enumerate(shard_rows(n, num_shards, seed))
    ]
    return merge_candidates(
        x, [c for c, _ in parts], [r for _, r in parts], k, first=first, seed=seed, chunk_size=chunk_size, block=block
    )
