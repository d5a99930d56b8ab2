"""What ``gre-ray bench`` ingests: only the datasets it was asked for.

A config such as ``configs/gre_b.yaml`` lists all 26 GRE-B datasets under ``ingest``, but
``gre-ray bench MODEL --datasets Arts,Toys`` needs two of them: ingesting the others would
make every bench require every raw file. :func:`narrow_ingest` cuts the ingest settings
down to the asked datasets (by name, then by scenario), so only their raw files are
located, fingerprinted and parsed. When the run folder's ingest already holds a superset
of them (its manifest lists which), that superset is kept instead, so the current output is
reused rather than replaced by a smaller one; this is skipped when one of the superset's
raw files has gone since.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gre_ray.errors import ConfigError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.registry import load_registry


def ingest_names(settings: IngestConfig) -> list[str]:
    """The datasets an ingest config lists: registry names, then explicit sources."""
    return [*settings.datasets, *(s.name for s in settings.sources)]


def scenarios_of(settings: IngestConfig) -> dict[str, str]:
    """Dataset → scenario, from the registry and the explicit sources (no file is read)."""
    out: dict[str, str] = {}
    if settings.datasets:
        registry = load_registry(settings.registry or None)
        out.update({n: registry[n].scenario.value for n in settings.datasets if n in registry})
    out.update({s.name: getattr(s.scenario, "value", str(s.scenario)) for s in settings.sources})
    return out


def wanted_datasets(settings: IngestConfig, asked: list[str], scenarios: list[str] | None) -> list[str]:
    """The ingest datasets a bench of ``asked`` (and ``scenarios``) reads, in the config's order.

    Args:
        settings: the config's ingest settings.
        asked: ``--datasets``, else ``benchmark.datasets``; empty: every listed dataset.
        scenarios: ``--scenario``; None or empty keeps every scenario.

    Raises:
        ConfigError: an asked dataset the ingest does not list (all of them named at once).
    """
    listed = ingest_names(settings)
    unknown = [n for n in asked if n not in listed]
    if unknown:
        raise ConfigError(f"bench: dataset(s) {', '.join(unknown)} not listed in ingest.datasets or ingest.sources "
                          f"(listed: {', '.join(listed) or 'none'})")
    keep = [n for n in listed if n in set(asked)] if asked else list(listed)
    if scenarios:
        scenario = scenarios_of(settings)
        keep = [n for n in keep if scenario.get(n) in set(scenarios)]
    return keep


def narrow_ingest(settings: IngestConfig, keep: list[str], previous: list[str] | None = None) -> IngestConfig:
    """``settings`` reduced to the datasets ``keep``, or to ``previous`` when that covers them.

    Args:
        settings: the config's ingest settings.
        keep: the datasets the bench reads (:func:`wanted_datasets`).
        previous: the datasets of the run folder's current ingest output (its manifest), if any.

    Returns:
        The ingest settings to run: their datasets and sources in the config's order.
    """
    listed = ingest_names(settings)
    names = set(keep)
    if previous and names <= set(previous) <= set(listed):
        names = set(previous)
    return dataclasses.replace(
        settings,
        datasets=[n for n in settings.datasets if n in names],
        sources=[s for s in settings.sources if s.name in names],
    )


def previous_ingest(manifest: dict[str, Any] | None) -> list[str] | None:
    """The dataset names a stage manifest of ``ingest`` records, or None without one."""
    if not manifest:
        return None
    settings = manifest.get("settings") or {}
    return [*settings.get("datasets", []), *(s.get("name", "") for s in settings.get("sources", []))]
