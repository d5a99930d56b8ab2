"""The figures of a pair-mining run: per domain, in total, and the warnings they call for.

The ``pairs`` stage records them in its manifest, whichever layout mined the pairs (the
Swing per-domain tasks or the sharded cosine/PMI path).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.schema import PAIRS, empty_table, validate_table
from gre_ray.pairs.evaluate import planted_precision
from gre_ray.pairs.mine import DomainPairs


def domain_figures(results: dict[str, DomainPairs], truth: pa.Table | None) -> dict[str, dict[str, Any]]:
    """Each domain's mining figures, with the precision against its planted partners when
    ``truth`` (the demo's ``ground_truth``) has any for it."""
    per_domain: dict[str, Any] = {}
    for d, result in results.items():
        stats = dict(result.stats)
        if truth is not None:
            gt = truth.filter(pc.equal(truth.column("domain"), d))
            if gt.num_rows:
                stats["planted"] = planted_precision(result, gt)
        per_domain[d] = stats
    return per_domain


def pairs_table(results: dict[str, DomainPairs]) -> pa.Table:
    """Every domain's pairs, in domain order, checked against the pairs contract."""
    tables = [results[d].table for d in sorted(results)]
    table = pa.concat_tables(tables) if tables else empty_table(PAIRS)
    return validate_table(table, PAIRS, "pairs")


def no_pair_warnings(per_domain: dict[str, dict[str, Any]]) -> list[str]:
    """A warning for every domain where no pair passed the thresholds."""
    return [
        f"pairs: domain {d!r}: no pair passed the thresholds "
        f"({stats['support_pairs']} pairs had min_support, {stats['candidates']} were candidates)"
        for d, stats in per_domain.items()
        if stats["kept"] == 0
    ]


def totals(per_domain: dict[str, dict[str, Any]], rows_out: int) -> dict[str, Any]:
    """Pairs, domains and user figures over every mined domain; the planted precision over
    every domain that has planted partners."""
    hits = sum(s["planted"]["hits"] for s in per_domain.values() if "planted" in s)
    mined = sum(s["planted"]["mined_pairs"] for s in per_domain.values() if "planted" in s)
    out = {
        "pairs": rows_out,
        "domains_mined": len(per_domain),
        "domains_without_pairs": [d for d, s in per_domain.items() if s["kept"] == 0],
        "single_item_users": sum(s["sequences"]["single_item_users"] for s in per_domain.values()),
        "capped_users": sum(s["sequences"]["capped_users"] for s in per_domain.values()),
        "repeat_rows": sum(s["sequences"]["repeat_rows"] for s in per_domain.values()),
    }
    if mined:
        out["planted_precision"] = round(hits / mined, 4)
    return out
