"""What a GRE-B grid needs before its first trial: the datasets, their splits, a work folder.

* :func:`select_datasets` resolves the configured dataset names against the ``domains``
  table (empty: every ``benchmark``-role domain) and names every missing one at once.
* :func:`build_split` computes one dataset's split for one task and saves it, so every model,
  embedding and seed of that task reads the very same split (and negatives).
* :func:`work_key` names the folder that keeps an interrupted grid restorable: a hash of the
  settings and of the upstream stages' fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.trials import task_of
from gre_ray.config.loader import to_dict
from gre_ray.data.schema import INTERACTIONS, validate_table
from gre_ray.data.storage import Location, read_json
from gre_ray.errors import ConfigError, DataError
from gre_ray.recsys.split_io import save_split
from gre_ray.recsys.splits import SplitConfig, SplitKind, make_split

BENCHMARK_ROLE = "benchmark"


def select_datasets(domains: pd.DataFrame, wanted: list[str], source: str = "domains") -> list[tuple[str, str]]:
    """(name, scenario) of the datasets to benchmark, in the configured order.

    Args:
        domains: the ``domains`` table (domain, scenario, role).
        wanted: configured names; empty selects every ``benchmark``-role domain.
        source: where ``domains`` was read from, for messages.

    Raises:
        ConfigError: names the data does not hold (all of them, with the available ones),
            or no benchmark-role domain when ``wanted`` is empty.
    """
    scenario = dict(zip(domains["domain"].astype(str), domains["scenario"].astype(str)))
    if not wanted:
        names = sorted(domains.loc[domains["role"] == BENCHMARK_ROLE, "domain"].astype(str))
        if not names:
            raise ConfigError(f"benchmark.datasets is empty and {source} has no domain with role {BENCHMARK_ROLE!r}")
        return [(n, scenario[n]) for n in names]
    missing = [n for n in wanted if n not in scenario]
    if missing:
        raise ConfigError(
            f"benchmark.datasets: {len(missing)} dataset(s) not available in {source}: {', '.join(missing)} "
            f"(available: {', '.join(sorted(scenario)) or 'none'})"
        )
    return [(n, scenario[n]) for n in wanted]


def check_resources(config: BenchmarkConfig, available: dict[str, float]) -> None:
    """Refuse a grid whose trials could never be scheduled on a cluster without an autoscaler
    (Tune would wait forever).

    Args:
        config: the benchmark settings.
        available: the cluster's resources (``ray.cluster_resources()``).

    An autoscaling cluster is checked against its node types instead, by the wiring that
    runs the grid (:func:`gre_ray.wiring.tune_grid.check_cluster`).

    Raises:
        ConfigError: a trial or an encoder actor asks for more CPUs or GPUs than the
            cluster has.
    """
    cpus, gpus = available.get("CPU", 0.0), available.get("GPU", 0.0)
    res = config.resources
    if res.cpus > cpus or res.gpus > gpus:
        raise ConfigError(
            f"benchmark.resources asks {res.cpus:g} CPU and {res.gpus:g} GPU per trial, but the Ray cluster has "
            f"{cpus:g} CPU and {gpus:g} GPU (set benchmark.resources.gpus=0 to run on CPUs)"
        )
    if config.embeddings and config.embed_gpus > gpus:
        raise ConfigError(f"benchmark.embed_gpus={config.embed_gpus:g} but the Ray cluster has {gpus:g} GPU")


def split_configs(config: BenchmarkConfig, dataset: str) -> dict[str, SplitConfig]:
    """Task → split config of ``dataset``, for the tasks of the configured models only."""
    tasks = {task_of(m) for m in config.models}
    out = {}
    if "retrieval" in tasks:
        out["retrieval"] = config.split.retrieval
    if "ranking" in tasks:
        ranking = config.split.ranking
        if dataset in config.split.explicit:
            ranking = SplitConfig(**{**to_dict(ranking), "kind": SplitKind.RANKING_EXPLICIT})
        out["ranking"] = ranking
    return out


def read_domain(interactions: str, dataset: str) -> pd.DataFrame:
    """The interactions of one domain as a DataFrame.

    Raises:
        DataError: the table has no row of that domain.
    """
    loc = Location.of(interactions)
    try:  # the filter is pushed down to the Parquet reader: only this domain's row groups are read
        table = pq.read_table(loc.path, filesystem=loc.fs, filters=[("domain", "=", dataset)])
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{loc.uri}: cannot read as Parquet: {exc}") from None
    table = validate_table(table, INTERACTIONS, source=loc.uri)
    if table.num_rows == 0:
        raise DataError(f"{loc.uri}: no interactions of dataset {dataset!r}")
    return table.to_pandas()


def build_split(interactions: str, dataset: str, config: SplitConfig, dest: str) -> dict[str, Any]:
    """Make the split of one dataset and save it to ``dest`` (skipped when already saved).

    Returns:
        The split's stats and fingerprint.
    """
    meta = Location.of(dest) / "meta.json"
    if meta.exists():
        saved = read_json(meta)
        return {"fingerprint": saved["fingerprint"], **saved["stats"]}
    split = make_split(read_domain(interactions, dataset), config, dataset=dataset)
    save_split(split, dest)
    return {"fingerprint": split.fingerprint, **split.stats}


def upstream_fingerprint(artifact: Location) -> str:
    """The fingerprint of the stage that wrote ``artifact`` (from its ``manifest.json``)."""
    manifest = artifact.parent / "manifest.json"
    return str(read_json(manifest).get("fingerprint", "")) if manifest.exists() else artifact.uri


def work_key(config: BenchmarkConfig, upstream: dict[str, str], external: dict[str, str]) -> str:
    """A short hash of everything that determines the grid: settings and inputs."""
    payload = {"settings": to_dict(config), "upstream": dict(sorted(upstream.items())),
               "external": dict(sorted(external.items()))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
