"""Search mode: pick lr and dim per (dataset, model) on validation, before the grid.

Every (lr, dim) of ``search`` trains on ``search.embedding`` (ID-only by default) with
``search.seed``; the point with the best validation score (the model's selection metric,
never a test metric) is used by every trial of that (dataset, model) in the grid. With
``scheduler: grid`` one Tune experiment runs every point to the end (early stopping on
validation still applies); with ``asha`` one experiment per (dataset, model) stops weak
points early with ASHA (Li et al. 2020), whose rungs compare only trials of one pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from ray.tune.schedulers import ASHAScheduler

from gre_ray.bench.config import BenchmarkConfig, SearchScheduler
from gre_ray.bench.trials import DatasetInputs, search_specs, slug
from gre_ray.bench.trial_spec import TrialSpec, checked
from gre_ray.wiring.tune_grid import TrialFn, best_valid_score, placed_trial, run_grid

SEARCH_COLUMNS = ["trial", "dataset", "model", "lr", "dim", "valid_score", "epochs", "error", "chosen"]


def _asha(config: BenchmarkConfig) -> Any:
    return ASHAScheduler(
        time_attr="training_iteration",
        metric="valid_score",
        mode="max",
        max_t=config.train.max_epochs + 1,  # every epoch reports, then the final record
        grace_period=config.search.grace_period,
        reduction_factor=config.search.reduction_factor,
    )


def run_search(
    config: BenchmarkConfig,
    datasets: Sequence[DatasetInputs],
    storage: str,
    *,
    trial_fn: TrialFn = placed_trial,
    verbose: int = 0,
) -> tuple[dict[tuple[str, str], dict[str, Any]], pd.DataFrame]:
    """Run the search and choose a point per (dataset, model).

    Args:
        config: the benchmark settings (``search`` enabled).
        datasets: the prepared datasets.
        storage: folder that holds the search experiments (restorable like the grid).
        trial_fn: the driver function.
        verbose: Tune's console verbosity.

    Returns:
        (dataset, model) → ``{"lr", "dim"}`` of the best point (pairs whose every point
        failed are left out, so the grid falls back to the configured values), and the
        table of every search trial.
    """
    specs = [checked(s) for s in search_specs(config, list(datasets))]  # URIs only, typed
    if config.search.scheduler == SearchScheduler.ASHA:
        records = []
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for spec in specs:
            typed = TrialSpec.of(spec)
            groups.setdefault((typed.dataset, typed.model), []).append(spec)
        for (dataset, model), group in groups.items():
            records += run_grid(group, storage, f"search-{slug(dataset)}-{model}", config.resources,
                                trial_fn=trial_fn, scheduler=_asha(config), verbose=verbose)
    else:
        records = run_grid(specs, storage, "search", config.resources, trial_fn=trial_fn, verbose=verbose)
    rows = []
    for record in records:
        spec = TrialSpec.of(record["spec"])
        rows.append({"trial": spec.name, "dataset": spec.dataset, "model": spec.model, "lr": spec.lr,
                     "dim": spec.dim, "valid_score": best_valid_score(record), "epochs": len(record["history"]),
                     "error": record["error"], "chosen": False})
    table = pd.DataFrame(rows, columns=SEARCH_COLUMNS)
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for (dataset, model), group in table.groupby(["dataset", "model"], sort=False):
        valid = group[group["valid_score"].map(math.isfinite)]
        if valid.empty:
            continue
        best = valid.sort_values(["valid_score", "trial"], ascending=[False, True]).index[0]
        table.loc[best, "chosen"] = True
        chosen[(dataset, model)] = {"lr": float(table.loc[best, "lr"]), "dim": int(table.loc[best, "dim"])}
    return chosen, table
