"""MLflow runs written through MLflow's client: one run per benchmark trial or training run.

A file store (``file://...``, the default ``<run.root>/mlruns``) needs no server; MLflow 3
keeps that backend in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is
set, which :func:`client` does for a ``file://`` URI only. MLflow names may not hold ``@``,
so ``ndcg@10`` is logged as ``ndcg_at_10`` (:func:`metric_name`). ``mlflow`` is imported
inside the functions, so loading a config never imports it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

PARAM_LIMIT = 6000  # characters MLflow keeps of a parameter value


def metric_name(key: str) -> str:
    """``key`` as an MLflow metric name (``test/ndcg@10`` → ``test/ndcg_at_10``)."""
    return key.replace("@", "_at_")


def flat_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"train.lr": "0.001", ...}`` (lists as their JSON-like text)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{name}."))
        else:
            out[metric_name(name)] = str(value)[:PARAM_LIMIT]
    return out


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` under MLflow names (bools and text dropped)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            out[metric_name(key)] = float(value)
    return out


def client(uri: str) -> Any:
    """An ``MlflowClient`` of the tracking URI ``uri`` (a file store is allowed explicitly)."""
    if uri.startswith("file://"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


class RunWriter:
    """Runs of one MLflow experiment (created when missing).

    Args:
        uri: the tracking URI (:func:`gre_ray.tracking.config.store_uri`).
        experiment: the experiment name.
    """

    def __init__(self, uri: str, experiment: str) -> None:
        self.client = client(uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)

    def start(self, name: str, tags: Mapping[str, Any], params: Mapping[str, str] = (), parent: str = "") -> str:
        """Open a run named ``name`` (nested under ``parent`` when given); returns its id."""
        tags = {k: str(v) for k, v in tags.items()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        run_id = run.info.run_id
        from mlflow.entities import Param

        params = list(dict(params).items())
        for i in range(0, len(params), 100):  # log_batch takes at most 100 parameters
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in params[i:i + 100]])
        return run_id

    def log(self, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
        """Log the finite numbers of ``metrics`` at ``step``."""
        from mlflow.entities import Metric

        values = numeric(metrics)
        if values:
            stamp = _now_ms()
            self.client.log_batch(run_id, metrics=[Metric(k, v, stamp, int(step)) for k, v in values.items()])

    def end(self, run_id: str, failed: bool = False) -> None:
        self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def log_epochs(uri: str, experiment: str, name: str, tags: Mapping[str, Any], params: Mapping[str, Any],
               epochs: Iterable[Mapping[str, Any]], final: Mapping[str, Any] | None = None) -> str:
    """One finished run: ``params`` flattened, each epoch's numbers at its ``epoch`` step and
    ``final`` at step 0 (the training stages log their history this way). Returns the run id."""
    writer = RunWriter(uri, experiment)
    run_id = writer.start(name, tags, flat_params(params))
    for i, record in enumerate(epochs):
        writer.log(run_id, record, step=int(record.get("epoch", i + 1)))
    if final:
        writer.log(run_id, final, step=0)
    writer.end(run_id)
    return run_id
