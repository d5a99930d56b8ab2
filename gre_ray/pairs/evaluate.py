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
    a = _dense(item_ids, ground_truth.column("item_id").to_pylist())
    b = _dense(item_ids, ground_truth.column("partner_id").to_pylist())
    ok = (a >= 0) & (b >= 0) & (a != b)
    planted = unique_sorted(_keys(a[ok], b[ok], n))

    mined_a = _dense(item_ids, result.table.column("item_a").to_pylist())
    mined_b = _dense(item_ids, result.table.column("item_b").to_pylist())
    mined = _keys(mined_a, mined_b, n)
    hits = np.isin(mined, planted)
    cand = _keys(result.candidates[0], result.candidates[1], n)
    all_pairs = n * (n - 1) / 2
    base = len(planted) / all_pairs if all_pairs else None
    precision = float(hits.mean()) if len(mined) else None
    return {
        "precision": _round(precision),
        "recall": _round(float(np.isin(planted, mined).mean())) if len(planted) else None,
        "base_rate": _round(base),
        "lift": _round(precision / base) if precision is not None and base else None,
        "candidate_precision": _round(float(np.isin(cand, planted).mean())) if len(cand) else None,
        "hits": int(hits.sum()),
        "planted_pairs": int(len(planted)),
        "mined_pairs": int(len(mined)),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)
