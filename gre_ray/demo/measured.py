"""One demo domain generated and measured, and the figures the ``demo_data`` stage records.

:func:`generate_measured` is the unit of work the stage runs once per domain (in parallel,
:mod:`gre_ray.wiring.tasks`); :func:`domain_stats` turns the results into the manifest's
per-domain figures.
"""

from __future__ import annotations

from typing import Any

from gre_ray.demo.generator import DemoDataConfig, DomainData, generate_domain, ground_truth_table
from gre_ray.demo.properties import measure


def generate_measured(config: DemoDataConfig, domain: str) -> tuple[DomainData, dict[str, float]]:
    """The data of ``domain`` and its measured properties (:func:`gre_ray.demo.properties.measure`)."""
    data = generate_domain(config, domain)
    props = measure(data.items, data.interactions, ground_truth_table(data), seed=config.seed)
    return data, props.as_dict()


def domain_stats(results: list[tuple[DomainData, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Scenario, role, users, items, interactions and measured properties of each domain."""
    return {
        d.domain: {
            "scenario": d.scenario,
            "role": d.role,
            "users": len(set(d.interactions.column("user_id").to_pylist())),
            "items": d.items.num_rows,
            "interactions": d.interactions.num_rows,
            "properties": props,
        }
        for d, props in results
    }
