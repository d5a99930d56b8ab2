"""Exact quantiles of values spread over shards, from per-shard statistics only.

An exact distributed selection in three passes, each a small summary per shard that merges
by addition (no shard sends its values):

1. :func:`value_range`: count, min and max;
2. :func:`histogram`: counts in ``bins`` equal-width bins over [min, max];
3. :func:`bin_values`: the distinct values, with their counts, of the few bins that hold
   the wanted ranks.

The bin of a value is a monotone function of the value computed the same way in every
process, so the merged histogram orders the bins and the wanted rank's value is found in
its bin (:func:`values_at_ranks`). Ties cost nothing: pass 3 sends each distinct value
once. :func:`linear_quantile` then interpolates exactly as ``numpy.quantile``'s default
``linear`` method does (Hyndman & Fan 1996, definition 7), so a threshold chosen from shards
is bit-identical to ``np.quantile`` over the joined values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BINS = 4096


@dataclass(frozen=True)
class Range:
    """Count, min and max of some values (min > max when there are none)."""

    n: int
    lo: float
    hi: float


def value_range(values: np.ndarray) -> Range:
    if len(values) == 0:
        return Range(0, math.inf, -math.inf)
    return Range(len(values), float(np.min(values)), float(np.max(values)))


def merge_ranges(parts: list[Range]) -> Range:
    return Range(sum(p.n for p in parts), min((p.lo for p in parts), default=math.inf),
                 max((p.hi for p in parts), default=-math.inf))


def bin_of(values: np.ndarray, r: Range, bins: int = BINS) -> np.ndarray:
    """(n,) bin of each value in ``[0, bins)``: a monotone map of [r.lo, r.hi]."""
    values = np.asarray(values, dtype=np.float64)
    if r.hi <= r.lo:
        return np.zeros(len(values), dtype=np.int64)
    scaled = np.floor((values - r.lo) / (r.hi - r.lo) * bins)
    return np.clip(scaled, 0, bins - 1).astype(np.int64)


def histogram(values: np.ndarray, r: Range, bins: int = BINS) -> np.ndarray:
    """(bins,) int64 counts of ``values`` per bin."""
    return np.bincount(bin_of(values, r, bins), minlength=bins).astype(np.int64)


def bins_of_ranks(hist: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The bin holding each 0-based ascending rank, from the merged histogram."""
    return np.searchsorted(np.cumsum(hist), np.asarray(ranks, dtype=np.int64), side="right")


def bin_values(values: np.ndarray, r: Range, wanted: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, their counts) of the values whose bin is in ``wanted``."""
    values = np.asarray(values, dtype=np.float64)
    inside = values[np.isin(bin_of(values, r, bins), wanted)]
    return np.unique(inside, return_counts=True)


def values_at_ranks(hist: np.ndarray, r: Range, ranks: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                    bins: int = BINS) -> np.ndarray:
    """The value at each ascending rank, from the merged histogram and every shard's :func:`bin_values`."""
    ranks = np.asarray(ranks, dtype=np.int64)
    vals = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    cnts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    uniq, inverse = np.unique(vals, return_inverse=True)
    totals = np.bincount(inverse, weights=cnts, minlength=len(uniq)).astype(np.int64)
    below = np.r_[0, np.cumsum(hist)]  # values in the bins before each bin
    out = np.empty(len(ranks), dtype=np.float64)
    ubins = bin_of(uniq, r, bins)
    for i, (rank, b) in enumerate(zip(ranks, bins_of_ranks(hist, ranks))):
        here = ubins == b
        cum = np.cumsum(totals[here])
        out[i] = uniq[here][np.searchsorted(cum, rank - below[b], side="right")]
    return out


def quantile_ranks(n: int, qs: np.ndarray) -> np.ndarray:
    """The ranks ``np.quantile``'s linear method reads for each quantile of ``n`` values."""
    virtual = (n - 1) * np.asarray(qs, dtype=np.float64)
    prev = np.clip(np.floor(virtual), 0, n - 1).astype(np.int64)
    return np.unique(np.r_[prev, np.minimum(prev + 1, n - 1)])


def linear_quantile(n: int, qs: np.ndarray, value_at: dict[int, float]) -> np.ndarray:
    """``np.quantile(values, qs)`` from the values at :func:`quantile_ranks` (same arithmetic)."""
    qs = np.asarray(qs, dtype=np.float64)
    virtual = (n - 1) * qs
    out = np.empty(len(qs), dtype=np.float64)
    for i, v in enumerate(virtual):
        if v >= n - 1:
            out[i] = value_at[n - 1]
            continue
        prev = max(int(np.floor(v)), 0)
        a, b = np.float64(value_at[prev]), np.float64(value_at[prev + 1])
        t = np.float64(v - prev)
        diff = b - a
        out[i] = b - diff * (1 - t) if t >= 0.5 else a + diff * t
    return out
