"""How well mined pairs recover a planted relation (the demo generator's complementary partners).

A mined pair {a, b} is a hit when b is a's planted partner or a is b's. Precision is the share
of mined pairs that are hits; the base rate is the precision of a random pair of the
domain's items, so precision / base rate says how much mining beats chance. The same
figures over the ``min_support`` candidates show what the scoring and filters add.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from gre_ray.pairs.arrays import unique_sorted
from gre_ray.pairs.mine import DomainPairs


def _keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return lo * n + hi


def _dense(item_ids: np.ndarray, ids: list[str]) -> np.ndarray:
    """Dense ids of ``ids`` in the sorted ``item_ids`` (-1 where absent)."""
    ids_arr = np.asarray(ids, dtype=object)
    pos = np.searchsorted(item_ids, ids_arr)
    pos = np.minimum(pos, len(item_ids) - 1)
    return np.where(item_ids[pos] == ids_arr, pos, -1) if len(ids_arr) else np.zeros(0, np.int64)


def planted_keys(item_ids: np.ndarray, ground_truth: pa.Table) -> np.ndarray:
    """Distinct pair keys ``lo * n + hi`` of the planted partners over the sorted ``item_ids``."""
    n = len(item_ids)
    a = _dense(item_ids, ground_truth.column("item_id").to_pylist())
    b = _dense(item_ids, ground_truth.column("partner_id").to_pylist())
    ok = (a >= 0) & (b >= 0) & (a != b)
    return unique_sorted(_keys(a[ok], b[ok], n))


def planted_counts(mined: np.ndarray, candidates: np.ndarray, planted: np.ndarray) -> dict[str, int]:
    """Counts behind :func:`planted_summary` for one part of the mined pairs (keys as in :func:`planted_keys`).

    Parts that hold disjoint pairs add up, so shards of a domain can be measured apart.
    """
    return {
        "hits": int(np.isin(mined, planted).sum()),
        "mined_pairs": int(len(mined)),
        "found_planted": int(np.isin(planted, mined).sum()),
        "candidate_hits": int(np.isin(candidates, planted).sum()),
        "candidates": int(len(candidates)),
    }


def planted_summary(parts: list[dict[str, int]], n: int, n_planted: int) -> dict[str, Any]:
    """Precision, recall, base rate and lift from the summed :func:`planted_counts` of a domain of ``n`` items."""
    total = {k: sum(p[k] for p in parts) for k in ("hits", "mined_pairs", "found_planted", "candidate_hits",
                                                   "candidates")}
    all_pairs = n * (n - 1) / 2
    base = n_planted / all_pairs if all_pairs else None
    mined = total["mined_pairs"]
    precision = total["hits"] / mined if mined else None
    return {
        "precision": _round(precision),
        "recall": _round(total["found_planted"] / n_planted) if n_planted else None,
        "base_rate": _round(base),
        "lift": _round(precision / base) if precision is not None and base else None,
        "candidate_precision": _round(total["candidate_hits"] / total["candidates"]) if total["candidates"] else None,
        "hits": total["hits"],
        "planted_pairs": int(n_planted),
        "mined_pairs": mined,
    }


def planted_precision(result: DomainPairs, ground_truth: pa.Table) -> dict[str, Any]:
    """Precision, recall and base rate of a domain's mined pairs against planted partners.

    Args:
        result: the domain's mined pairs (its item ids are sorted).
        ground_truth: ``item_id`` and ``partner_id`` rows of this domain.

    Returns:
        ``precision``, ``recall``, ``base_rate``, ``lift`` (precision / base rate),
        ``candidate_precision``, ``hits``, ``planted_pairs`` and ``mined_pairs``; precision-type
        figures are None when there is nothing to measure.
    """
    item_ids, n = result.item_ids, len(result.item_ids)
    planted = planted_keys(item_ids, ground_truth)
    mined = _keys(_dense(item_ids, result.table.column("item_a").to_pylist()),
                  _dense(item_ids, result.table.column("item_b").to_pylist()), n)
    cand = _keys(result.candidates[0], result.candidates[1], n)
    return planted_summary([planted_counts(mined, cand, planted)], n, len(planted))


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)
