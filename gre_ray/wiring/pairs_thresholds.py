"""Per-domain thresholds and score distributions of sharded pair mining, from per-shard statistics.

The pair shards of :mod:`gre_ray.wiring.pairs_sharded` hold the candidates; this module asks
them, in rounds of small Ray tasks, for the summaries of :mod:`gre_ray.pairs.quantiles`
(count, min, max, sum; histograms; the distinct values of a few bins) and turns them into
the thresholds :func:`gre_ray.pairs.thresholds.choose_thresholds` would choose over the
joined candidates, and the manifest's distributions
(:func:`gre_ray.pairs.thresholds.distribution`). No process sees every candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gre_ray.pairs import quantiles as qt
from gre_ray.pairs.config import PairsConfig, ThresholdConfig, ThresholdMode
from gre_ray.pairs.thresholds import QUANTILES, ChosenThresholds


@dataclass(frozen=True)
class Series:
    """Values of one domain's candidates: a column, optionally only where ``text >= text_min``
    (and ``score >= cooc_min``)."""

    domain: str
    column: str
    text_min: float | None = None
    cooc_min: float | None = None


def _values(state: dict, s: Series) -> np.ndarray:
    st = state[s.domain]
    v = st[s.column].astype(np.float64)
    mask = np.ones(len(v), dtype=bool)
    if s.text_min is not None:
        mask &= st["text"] >= s.text_min
    if s.cooc_min is not None:
        mask &= st["score"] >= s.cooc_min
    return v[mask]


def _ranges(state: dict, series: list[Series]) -> list[tuple[qt.Range, float]]:
    return [(qt.value_range(v), float(v.sum())) for v in (_values(state, s) for s in series)]


def _hists(state: dict, series: list[Series], ranges: list[qt.Range]) -> list[np.ndarray]:
    return [qt.histogram(_values(state, s), r) for s, r in zip(series, ranges)]


def _bin_values(state: dict, series: list[Series], ranges: list[qt.Range], wanted: list[np.ndarray]) -> list:
    return [qt.bin_values(_values(state, s), r, w) for s, r, w in zip(series, ranges, wanted)]


def select_ranks(states: list[Any], series: list[Series], ranks_of) -> list[tuple[int, float, dict[int, float]]]:
    """Exact values at ranks of each series over the shard ``states`` (refs), in three passes.

    Args:
        states: object refs of the pair shards' states.
        series: what to read from each state.
        ranks_of: (series index, count) → the ascending ranks wanted.

    Returns:
        Per series: (count, sum, {rank: value}).
    """
    import ray

    if not series:
        return []
    rng, hist, vals = (ray.remote(num_cpus=1)(f) for f in (_ranges, _hists, _bin_values))
    first = ray.get([rng.remote(s, series) for s in states])
    ranges = [qt.merge_ranges([f[i][0] for f in first]) for i in range(len(series))]
    sums = [float(sum(f[i][1] for f in first)) for i in range(len(series))]
    ranks = [np.asarray(ranks_of(i, r.n), dtype=np.int64) for i, r in enumerate(ranges)]
    hists = ray.get([hist.remote(s, series, ranges) for s in states])
    merged = [np.sum([h[i] for h in hists], axis=0) for i in range(len(series))]
    wanted = [np.unique(qt.bins_of_ranks(m, k)) for m, k in zip(merged, ranks)]
    parts = ray.get([vals.remote(s, series, ranges, wanted) for s in states])
    out = []
    for i, r in enumerate(ranges):
        at = qt.values_at_ranks(merged[i], r, ranks[i], [p[i] for p in parts]) if len(ranks[i]) else []
        out.append((r.n, sums[i], {int(k): float(v) for k, v in zip(ranks[i], at)}))
    return out


def _distribution(n: int, total: float, at: dict[int, float]) -> dict[str, float] | None:
    """:func:`gre_ray.pairs.thresholds.distribution` from the selected ranks."""
    if n == 0:
        return None
    qs = qt.linear_quantile(n, np.asarray(QUANTILES), at)
    out = {f"q{int(q * 100)}": round(float(v), 6) for q, v in zip(QUANTILES, qs)}
    out["mean"] = round(total / n, 6)
    return out


def _single(spec: ThresholdConfig, domain: str, n: int, at: dict[int, float]) -> tuple[float, str]:
    """:func:`gre_ray.pairs.thresholds._single` from the selected ranks."""
    if domain in spec.per_domain:
        return float(spec.per_domain[domain]), "per_domain"
    if spec.mode == ThresholdMode.FIXED:
        return float(spec.value), "fixed"
    if n == 0:
        return float("inf"), f"quantile {spec.value} of no candidates"
    return float(qt.linear_quantile(n, np.asarray([spec.value]), at)[0]), f"quantile {spec.value}"


def choose_thresholds(states: list[Any], domains: list[str], config: PairsConfig) -> dict[str, tuple]:
    """Per domain: (ChosenThresholds, candidate stats) from the shards, as the one-process path chooses them."""
    def quantile_ranks(spec: ThresholdConfig, n: int) -> np.ndarray:
        extra = [spec.value] if spec.mode == ThresholdMode.QUANTILE else []
        return qt.quantile_ranks(n, np.asarray(list(QUANTILES) + extra)) if n else np.zeros(0, np.int64)

    first = [Series(d, c) for d in domains for c in ("text", "score")]
    specs = [config.text_threshold if s.column == "text" else config.cooc_threshold for s in first]
    got = select_ranks(states, first, lambda i, n: quantile_ranks(specs[i], n))
    chosen: dict[str, tuple] = {}
    target = [d for d in domains
              if config.cooc_threshold.mode == ThresholdMode.TARGET_COUNT and d not in config.cooc_threshold.per_domain]
    text_min: dict[str, tuple[float, str]] = {}
    for j, d in enumerate(domains):
        (n, ts, tat), (_, cs, cat) = got[2 * j], got[2 * j + 1]
        text_min[d] = _single(config.text_threshold, d, n, tat)
        dists = {"text": _distribution(n, ts, tat), "score": _distribution(n, cs, cat), "candidates": n}
        if d not in target:
            cooc = _single(config.cooc_threshold, d, n, cat)
            chosen[d] = (ChosenThresholds(cooc[0], text_min[d][0], cooc[1], text_min[d][1]), dists)
        else:
            chosen[d] = (None, dists)
    k = config.cooc_threshold.target_pairs
    passing = select_ranks(states, [Series(d, "score", text_min=text_min[d][0]) for d in target],
                           lambda i, n: [max(0, n - k)] if n else [])
    for d, (n, _, at) in zip(target, passing):
        if n == 0:
            cooc = (float("inf"), f"target {k}: no candidate")
        elif n <= k:
            cooc = (at[0], f"target {k}: all {n}")
        else:
            cooc = (at[n - k], f"target {k}")
        chosen[d] = (ChosenThresholds(cooc[0], text_min[d][0], cooc[1], text_min[d][1]), chosen[d][1])
    return chosen


def kept_distributions(states: list[Any], chosen: dict[str, ChosenThresholds]) -> dict[str, dict]:
    """Per domain: kept count and the distributions of score, text and support of the kept pairs."""
    series = [Series(d, c, text_min=t.text_min, cooc_min=t.cooc_min) for d, t in chosen.items()
              for c in ("score", "text", "support")]
    got = select_ranks(states, series,
                       lambda i, n: qt.quantile_ranks(n, np.asarray(QUANTILES)) if n else np.zeros(0, np.int64))
    out = {}
    for j, d in enumerate(chosen):
        (n, ss, sat), (_, ts, tat), (_, us, uat) = got[3 * j : 3 * j + 3]
        out[d] = {"kept": n, "score": _distribution(n, ss, sat), "text": _distribution(n, ts, tat),
                  "support": _distribution(n, us, uat)}
    return out
