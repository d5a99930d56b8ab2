"""Per-item top-k and the two thresholds, chosen per domain from the data.

The reference implementation tuned its pair thresholds by hand in notebooks; here each
threshold is fixed (optionally per domain), a quantile of the domain's candidate pairs,
or — for the collaborative score — the score that keeps a target number of pairs. The
text threshold is set first, over all candidates; the collaborative threshold then
either takes its quantile over the same candidates, or, for a target count, is the
score of the ``target``-th best candidate that passes the text threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gre_ray.pairs.config import ThresholdConfig, ThresholdMode


def top_k_mask(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, k: int | None) -> np.ndarray:
    """Which pairs are among the ``k`` best-scored partners of at least one of their items.

    Ties are broken by the partner's id, so the result does not depend on pair order.

    Args:
        rows, cols: (P,) item ids of the pairs.
        scores: (P,) collaborative scores.
        k: partners kept per item; None keeps every pair.

    Returns:
        (P,) bool mask.
    """
    n = len(rows)
    if k is None or n == 0:
        return np.ones(n, dtype=bool)
    item = np.r_[rows, cols].astype(np.int32)
    partner = np.r_[cols, rows].astype(np.int32)
    score = np.r_[scores, scores]
    pair = np.r_[np.arange(n, dtype=np.int32), np.arange(n, dtype=np.int32)]
    order = np.lexsort((partner, -score, item))
    item_sorted = item[order]
    group_start = np.r_[True, item_sorted[1:] != item_sorted[:-1]]
    starts = np.flatnonzero(group_start)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    mask = np.zeros(n, dtype=bool)
    mask[pair[order][rank < k]] = True
    return mask


@dataclass(frozen=True)
class ChosenThresholds:
    """The thresholds a domain ended up with, and how they were chosen."""

    cooc_min: float
    text_min: float
    cooc_rule: str
    text_rule: str

    def as_dict(self) -> dict[str, object]:
        return {
            "cooc_min": _finite(self.cooc_min),
            "text_min": _finite(self.text_min),
            "cooc_rule": self.cooc_rule,
            "text_rule": self.text_rule,
        }


def _finite(x: float) -> float | None:
    return round(float(x), 6) if np.isfinite(x) else None


def _single(spec: ThresholdConfig, values: np.ndarray, domain: str) -> tuple[float, str]:
    if domain in spec.per_domain:
        return float(spec.per_domain[domain]), "per_domain"
    if spec.mode == ThresholdMode.FIXED:
        return float(spec.value), "fixed"
    if len(values) == 0:
        return float("inf"), f"quantile {spec.value} of no candidates"
    return float(np.quantile(values, spec.value)), f"quantile {spec.value}"


def choose_thresholds(
    cooc: np.ndarray, text: np.ndarray, domain: str, cooc_spec: ThresholdConfig, text_spec: ThresholdConfig
) -> ChosenThresholds:
    """Pick the domain's collaborative and text thresholds from its candidate pairs.

    Args:
        cooc: (P,) collaborative scores of the candidates.
        text: (P,) text similarities of the candidates.
        domain: the domain (for ``per_domain`` values).
        cooc_spec: how to set the collaborative threshold.
        text_spec: how to set the text threshold (not target_count).

    Returns:
        The thresholds; a pair is kept when ``cooc >= cooc_min`` and ``text >= text_min``.
    """
    text_min, text_rule = _single(text_spec, text, domain)
    if cooc_spec.mode == ThresholdMode.TARGET_COUNT and domain not in cooc_spec.per_domain:
        passing = np.sort(cooc[text >= text_min])[::-1]
        target = cooc_spec.target_pairs
        if len(passing) == 0:
            return ChosenThresholds(float("inf"), text_min, f"target {target}: no candidate", text_rule)
        if len(passing) <= target:
            return ChosenThresholds(float(passing[-1]), text_min, f"target {target}: all {len(passing)}", text_rule)
        return ChosenThresholds(float(passing[target - 1]), text_min, f"target {target}", text_rule)
    cooc_min, cooc_rule = _single(cooc_spec, cooc, domain)
    return ChosenThresholds(cooc_min, text_min, cooc_rule, text_rule)


QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def distribution(values: np.ndarray) -> dict[str, float] | None:
    """Quantiles (q0, q10, ..., q100) and the mean of ``values``, for the manifest (None if empty)."""
    if len(values) == 0:
        return None
    qs = np.quantile(values, QUANTILES)
    out = {f"q{int(q * 100)}": round(float(v), 6) for q, v in zip(QUANTILES, qs)}
    out["mean"] = round(float(np.mean(values)), 6)
    return out
