"""The Tune wiring places a trial: a trial that trains on ``cuda`` was given a GPU share by
Ray, so it gets a CUDA device or stops with a one-line error before training; on a simulated
cluster it runs on the CPU and gives the plain CPU trial's result."""

from __future__ import annotations

import pytest
import torch

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel, ResourceSettings
from gre_ray.bench.trial import run_trial
from gre_ray.bench.trials import make_spec
from gre_ray.recsys.train import TrainConfig
from gre_ray.wiring.accelerator import SIMULATED_GPUS_ENV, NoCudaDeviceError
from gre_ray.wiring.tune_grid import placed_trial

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the trial's device on a machine without CUDA")


def _spec(inputs, gpus: float):
    config = BenchmarkConfig(
        models=["dssm"], embeddings=[EmbeddingModel(name="rand")],
        train=TrainConfig(max_epochs=1, patience=1, batch_size=64), resources=ResourceSettings(gpus=gpus),
    )
    spec = make_spec(config, inputs[0], "dssm", "rand", "add", 0)
    assert spec["train"]["device"] == ("cuda" if gpus else "cpu")
    return spec


def test_a_gpu_trial_without_cuda_stops_before_training(tiny_inputs, monkeypatch):
    monkeypatch.delenv(SIMULATED_GPUS_ENV, raising=False)
    reports = []
    with pytest.raises(NoCudaDeviceError, match=r"^benchmark trial .* was given a GPU by Ray"):
        placed_trial(_spec(tiny_inputs, 1.0), reports.append)
    assert reports == []


def test_on_a_simulated_cluster_a_gpu_trial_runs_on_the_cpu(tiny_inputs, monkeypatch):
    monkeypatch.setenv(SIMULATED_GPUS_ENV, "1")
    placed = placed_trial(_spec(tiny_inputs, 1.0), lambda _: None)
    plain = run_trial(_spec(tiny_inputs, 0.0), lambda _: None)
    assert placed["final"] == 1
    assert placed["valid_score"] == pytest.approx(plain["valid_score"])
    assert placed["n_parameters"] == plain["n_parameters"]
