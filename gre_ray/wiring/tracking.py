"""Experiment tracking of the GRE-B grid on Ray Tune: MLflow or W&B callbacks.

MLflow: :class:`MlflowTrials` opens one run per trial in the driver (so only the driver
needs the store), with the trial key, protocol and grid as tags, the spec's settings as
parameters and the trial's per-epoch and test metrics (:mod:`gre_ray.bench.tracking`),
nested under one run per grid. Ray's own ``MLflowLoggerCallback`` gives every trial the
same tags, logs the whole config (file paths included) as parameters and every Tune key
as a metric, under names MLflow refuses (``ndcg@10``), so the callback here is a plain
``tune.Callback`` over :class:`gre_ray.tracking.mlflow_runs.RunWriter`.

W&B: Ray's ``WandbLoggerCallback`` as Ray's docs use it, one W&B run per trial, grouped
by grid (each trial process logs to W&B itself).
"""

from __future__ import annotations

import logging
from typing import Any

from ray import tune

from gre_ray.bench.tracking import trial_metrics, trial_params, trial_tags
from gre_ray.bench.trial_spec import TrialSpec
from gre_ray.tracking.config import TrackingBackend, store_uri
from gre_ray.tracking.mlflow_runs import RunWriter

log = logging.getLogger("gre_ray")


class MlflowTrials(tune.Callback):
    """One MLflow run per trial of the grid ``grid``, nested under a run of the grid.

    Args:
        uri: the MLflow tracking URI.
        experiment: the MLflow experiment.
        grid: the grid's name (the Tune experiment's), a tag of every run.
    """

    def __init__(self, uri: str, experiment: str, grid: str) -> None:
        self.uri, self.experiment, self.grid = uri, experiment, grid
        self.writer: RunWriter | None = None
        self.parent = ""
        self.runs: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment state; the client and open runs stay here
        return {"uri": self.uri, "experiment": self.experiment, "grid": self.grid, "writer": None, "parent": "",
                "runs": {}}

    def setup(self, **info: Any) -> None:
        self.writer = RunWriter(self.uri, self.experiment)
        self.parent = self.writer.start(self.grid, {"gre.grid": self.grid, "gre.kind": "grid"})

    def _run(self, trial: Any) -> str:
        if trial.trial_id not in self.runs:
            spec = TrialSpec.of(trial.config["trial"])
            self.runs[trial.trial_id] = self.writer.start(spec.name, trial_tags(spec, self.grid),
                                                          trial_params(spec), parent=self.parent)
        return self.runs[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._run(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        logged = trial_metrics(result)
        if logged is not None:
            self.writer.log(self._run(trial), logged[1], step=logged[0])

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.writer.end(self._run(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.writer.end(self._run(trial), failed=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.writer is not None and self.parent:
            self.writer.end(self.parent)


def tracking_callbacks(backend: TrackingBackend, tracking_uri: str, experiment: str, run_root: str,
                       grid: str) -> list[Any]:
    """The Tune callbacks of ``backend`` for the grid ``grid`` (none for ``none``)."""
    backend = TrackingBackend(backend)
    if backend is TrackingBackend.MLFLOW:
        uri = store_uri(tracking_uri, run_root)
        log.info("tracking: one MLflow run per trial in %s (experiment %s)", uri, experiment)
        return [MlflowTrials(uri, experiment, grid)]
    if backend is TrackingBackend.WANDB:
        from ray.air.integrations.wandb import WandbLoggerCallback

        return [WandbLoggerCallback(project=experiment, group=grid, log_config=True)]
    return []
