"""The figures and warnings of an ingest run, from the per-dataset statistics of
:func:`gre_ray.ingest.assemble.assemble`: the ``domains`` table, filtered rows by filter,
GRE-B Table 1 totals, and a warning per damaged file or published-count mismatch."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from gre_ray.ingest.sources import Dataset


def domains_table(datasets: list[Dataset]) -> pa.Table:
    """The ``domains`` artifact: domain, scenario and role of every dataset, in config order."""
    return pa.table(
        {
            "domain": pa.array([d.name for d in datasets], pa.string()),
            "scenario": pa.array([d.scenario.value for d in datasets], pa.string()),
            "role": pa.array([d.role.value for d in datasets], pa.string()),
        }
    )


def dataset_warnings(name: str, stats: dict[str, Any]) -> list[str]:
    """A warning per damaged raw file (what followed the damage is lost), then the published-count ones."""
    damaged = [
        f"ingest: {name}: {damage['file']} is damaged ({damage['reason']}) at line {damage['line']}; "
        "whatever followed in the file is lost and cannot be counted"
        for damage in stats["damaged_files"]
    ]
    return damaged + list(stats.get("published_warnings", []))


def filtered_rows(per_dataset: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Rows removed by each interaction/item filter over every dataset, by filter name."""
    filtered: dict[str, int] = {}
    for stats in per_dataset.values():
        for account in stats["rows"].values():
            for name, n in account["filtered"].items():
                filtered[name] = filtered.get(name, 0) + n
    return dict(sorted(filtered.items()))


def totals(per_dataset: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Users, items, interactions and tokens over every dataset (GRE-B Table 1 columns)."""
    return {
        key: sum(s["table1"].get(key, 0) for s in per_dataset.values())
        for key in ("users", "items", "interactions", "tokens_total")
    }
