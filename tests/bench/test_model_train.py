"""Per-model training settings (``benchmark.models_train``) reach each trial's spec."""

from __future__ import annotations

import pytest

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.bench.trials import DatasetInputs, grid_specs
from gre_ray.errors import ConfigError
from gre_ray.root_config import load_config


def test_models_train_overrides_only_its_model():
    config = load_config(None, [
        "benchmark.models=[sasrec, din]",
        "benchmark.train={lr: 0.002, batch_size: 256, max_epochs: 15}",
        "benchmark.models_train={sasrec: {batch_size: 128, positions: all}, din: {batch_size: 2048, lr: 0.001}}",
    ]).benchmark
    data = DatasetInputs("kitchen", "e-commerce", {"retrieval": "r", "ranking": "k"}, {"minilm": "m"})
    specs = {s["name"]: s for s in grid_specs(config, [data])}
    sasrec, din = specs["kitchen-sasrec-id-s0"]["train"], specs["kitchen-din-id-s0"]["train"]
    assert (sasrec["batch_size"], sasrec["lr"], sasrec["positions"], sasrec["max_epochs"]) == (128, 0.002, "all", 15)
    assert (din["batch_size"], din["lr"], din["positions"], din["max_epochs"]) == (2048, 0.001, "last", 15)
    assert specs["kitchen-din-id-s0"]["lr"] == 0.001


@pytest.mark.parametrize("override, message", [
    ("benchmark.models_train={gru4rec: {lr: 0.1}}", "models_train: unknown model 'gru4rec'"),
    ("benchmark.models_train={sasrec: {batch: 3}}", "batch"),
    ("benchmark.models_train={sasrec: {batch_size: 0}}", "train.batch_size must be >= 1"),
])
def test_bad_models_train_fails_at_load(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)


def test_models_train_from_python_dicts():
    config = BenchmarkConfig(models=["sasrec"], embeddings=[EmbeddingModel(name="m")],
                             models_train={"sasrec": {"batch_size": 64}})
    assert config.train_for("sasrec").batch_size == 64
