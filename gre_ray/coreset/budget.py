"""Per-domain budgets: split a total across domains, then respect per-domain min and max.

GRE balances its corpus so a large domain does not drown the small ones. The split follows
weights ``w_d``: proportional (``w_d = n_d``), uniform (``w_d = 1``), or temperature
(``w_d = n_d ** alpha``; the temperature sampling of multilingual pre-training, Conneau &
Lample 2019, "Cross-lingual Language Model Pretraining"; alpha = 1 is proportional and
alpha = 0 uniform).

Water-filling: each domain gets ``clip(lam * w_d, lo_d, hi_d)`` with ``hi_d = min(n_d, max)``
(never more than it has) and ``lo_d = min(min, hi_d)``, and ``lam`` is the level at which
the clipped shares add up to the total. The sum is continuous and non-decreasing in
``lam``, so bisection finds it; domains pinned at their cap hand their excess to the others
in proportion to the others' weights. Integer counts come from the largest remainders (ties
by domain name), so the total is met exactly whenever ``sum lo <= total <= sum hi``.
Outside that range the defined behaviour is: every domain gets ``hi_d`` (the budget exceeds
what survived) or ``lo_d`` (the minimums exceed the budget), with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from gre_ray.coreset.config import BudgetMode


@dataclass
class Allocation:
    """Budget per domain.

    Attributes:
        counts: domain → texts to select.
        available: domain → texts that survived the filters.
        weights: domain → normalised weight of the split.
        requested: the configured total.
        notes: what could not be met as asked (for ``ctx.warn``).
    """

    counts: dict[str, int]
    available: dict[str, int]
    weights: dict[str, float]
    requested: int
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def domain_weights(sizes: np.ndarray, mode: BudgetMode, alpha: float = 0.5) -> np.ndarray:
    """Unnormalised weights (m,) of domains with ``sizes`` (m,); empty domains weigh 0."""
    sizes = np.asarray(sizes, dtype=np.float64)
    mode = BudgetMode(mode)
    if mode is BudgetMode.PROPORTIONAL:
        w = sizes.copy()
    elif mode is BudgetMode.UNIFORM:
        w = np.ones_like(sizes)
    else:
        w = np.power(sizes, alpha)
    w[sizes <= 0] = 0.0
    return w


def allocate(
    sizes: Mapping[str, int],
    total: int,
    *,
    mode: BudgetMode = BudgetMode.TEMPERATURE,
    alpha: float = 0.5,
    min_per_domain: int = 0,
    max_per_domain: int | None = None,
) -> Allocation:
    """Split ``total`` across domains by water-filling (see the module docstring).

    Args:
        sizes: domain → texts available after filtering.
        total: texts to select in all.
        mode: how to weigh domains.
        alpha: temperature exponent for ``mode=temperature``.
        min_per_domain: floor per domain (capped at what the domain has).
        max_per_domain: cap per domain; None for no cap.

    Returns:
        The allocation; ``notes`` explain any shortfall or excess.
    """
    names = sorted(sizes)
    n = np.array([int(sizes[d]) for d in names], dtype=np.int64)  # (m,)
    hi = n if max_per_domain is None else np.minimum(n, max_per_domain)
    lo = np.minimum(min_per_domain, hi)
    w = domain_weights(n, mode, alpha)
    notes = [f"domain {d!r} has no texts after filtering; it gets none" for d, size in zip(names, n) if size == 0]

    if total >= hi.sum():
        counts = hi.copy()
        if total > hi.sum():
            notes.append(
                f"budget total {total} exceeds the {int(hi.sum())} texts that survived the filters"
                f"{' and per-domain caps' if max_per_domain is not None else ''}: keeping all of them"
            )
    elif total <= lo.sum():
        counts = lo.copy()
        if total < lo.sum():
            notes.append(
                f"per-domain minimums add up to {int(lo.sum())} > budget total {total}: each domain gets its minimum"
            )
    else:
        counts = _round(_water_fill(w, lo, hi, total), lo, hi, total)
    share = w / w.sum() if w.sum() > 0 else w
    return Allocation(
        counts={d: int(c) for d, c in zip(names, counts)},
        available={d: int(s) for d, s in zip(names, n)},
        weights={d: float(s) for d, s in zip(names, share)},
        requested=int(total),
        notes=notes,
    )


def _water_fill(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int) -> np.ndarray:
    """Real shares (m,) ``clip(lam * w, lo, hi)`` summing to ``total`` (``sum lo < total < sum hi``)."""
    pos = w > 0
    lam_lo, lam_hi = 0.0, float((hi[pos] / w[pos]).max())  # at lam_hi every weighted domain is at its cap

    def filled(lam: float) -> np.ndarray:
        return np.clip(lam * w, lo, hi)

    for _ in range(200):
        mid = 0.5 * (lam_lo + lam_hi)
        if filled(mid).sum() < total:
            lam_lo = mid
        else:
            lam_hi = mid
    return filled(lam_hi)


def _round(shares: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int) -> np.ndarray:
    """Integer counts (m,) within ``[lo, hi]`` adding up to ``total``, by largest remainder."""
    counts = np.clip(np.floor(shares + 1e-9).astype(np.int64), lo, hi)
    remainder = shares - counts
    for i in np.argsort(-remainder, kind="stable"):
        if counts.sum() >= total:
            break
        if counts[i] < hi[i]:
            counts[i] += 1
    return counts
