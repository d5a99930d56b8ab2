"""Tracking of the training stages (``mlm``, ``contrastive``): one run per training run.

After a stage's training finishes, its settings (flattened) and its held-out metrics go to
the chosen backend: the metrics before training at step 0, each epoch's at its epoch, and
the best epoch as ``best_epoch``. The numbers are the ones the stage's manifest and model
card record (the driver's state), so the tracked run and the run folder agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gre_ray.tracking.config import TrackingBackend, store_uri
from gre_ray.tracking.mlflow_runs import flat_params, log_epochs, numeric


def log_training(backend: TrackingBackend | str, tracking_uri: str, experiment: str, run_root: str, name: str,
                 tags: Mapping[str, Any], settings: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """Log one training run; returns where it went ("" for ``none``).

    Args:
        backend, tracking_uri, experiment: the stage's tracking settings.
        run_root: the run folder (the default MLflow store lives under it).
        name: the run's name (the stage's training run name).
        tags: tags of the run (stage, run folder).
        settings: the stage's settings as plain data (logged as parameters).
        state: the driver's final state: ``initial_metrics``, ``history``, ``best_epoch``.
    """
    backend = TrackingBackend(backend)
    epochs = [{**h, "epoch": int(h.get("epoch", i + 1))} for i, h in enumerate(state.get("history") or [])]
    initial = dict(state.get("initial_metrics") or {})
    final = {"best_epoch": state["best_epoch"]} if state.get("best_epoch") is not None else {}
    if backend is TrackingBackend.MLFLOW:
        uri = store_uri(tracking_uri, run_root)
        start = [{**initial, "epoch": 0}] if initial else []
        run_id = log_epochs(uri, experiment, name, tags, settings, start + epochs, final)
        return f"{uri} (run {run_id})"
    if backend is TrackingBackend.WANDB:
        import wandb

        run = wandb.init(project=experiment, name=name, config=flat_params(settings), tags=[str(v) for v in
                                                                                           tags.values()])
        if initial:
            run.log(numeric(initial), step=0)
        for record in epochs:
            run.log(numeric(record), step=record["epoch"])
        run.summary.update(final)
        run.finish()
        return f"wandb project {experiment}"
    return ""
