"""Tracking of the training stages: one MLflow run per training run with the settings as
parameters and the held-out metrics per epoch (step 0: before training); a backend that is
not installed stops the run at preflight."""

from __future__ import annotations

import pytest

from gre_ray.errors import ConfigError
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config
from gre_ray.tracking.training import log_training

STATE = {"initial_metrics": {"recall_at_k": 0.2, "heldout_loss": 2.0},
         "history": [{"epoch": 1, "train_loss": 1.5, "heldout_loss": 1.4, "recall_at_k": 0.3},
                     {"epoch": 2, "train_loss": 1.1, "heldout_loss": 1.2, "recall_at_k": 0.35}],
         "best_epoch": 2}


def test_a_training_run_logs_its_settings_and_every_epoch(tmp_path):
    from gre_ray.tracking.mlflow_runs import client

    config = load_config("configs/demo.smoke.yaml").contrastive
    from gre_ray.config.loader import to_dict

    where = log_training("mlflow", "", "gre-training", str(tmp_path), "contrastive-abc",
                         {"gre.stage": "contrastive"}, to_dict(config), STATE)
    assert where.startswith((tmp_path / "mlruns").as_uri())
    mlflow = client((tmp_path / "mlruns").as_uri())
    (run,) = mlflow.search_runs([mlflow.get_experiment_by_name("gre-training").experiment_id])
    assert run.info.run_name == "contrastive-abc" and run.data.tags["gre.stage"] == "contrastive"
    assert run.data.params["loss"] == "gte" and run.data.params["optim.lr"] == "5e-05"
    assert run.data.metrics["best_epoch"] == 2
    recall = mlflow.get_metric_history(run.info.run_id, "recall_at_k")
    assert sorted((m.step, m.value) for m in recall) == [(0, 0.2), (1, 0.3), (2, 0.35)]


def test_a_training_stage_with_a_backend_not_installed_stops_at_preflight(tmp_path, monkeypatch):
    from gre_ray.tracking import check

    monkeypatch.setattr(check, "_installed", lambda module: module != "wandb")
    config = load_config("configs/demo.smoke.yaml", [f"run.root={tmp_path / 'run'}", "contrastive.tracking=wandb"])
    with pytest.raises(ConfigError, match=r"^contrastive.tracking=wandb: Weights & Biases is not installed"):
        run_config(config)
    assert not (tmp_path / "run").exists()
