"""The typed trial spec: Tune carries its plain form, and reading that back gives the same spec."""

from __future__ import annotations

import json

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.bench.keys import trial_key
from gre_ray.bench.trial_spec import TrialSpec, checked
from gre_ray.bench.trials import DatasetInputs, grid_specs
from gre_ray.recsys.fusion_config import FusionMode
from gre_ray.recsys.models.base import Task
from gre_ray.recsys.train_config import TrainConfig


def _specs() -> list[dict]:
    config = BenchmarkConfig(models=["sasrec", "din"], fusions=["add"], seeds=[0, 1],
                             embeddings=[EmbeddingModel(name="minilm")])
    data = DatasetInputs("kitchen", "e-commerce", {"retrieval": "s3://b/r", "ranking": "s3://b/k"},
                         {"minilm": "s3://b/m"}, split_fingerprints={"retrieval": "f1", "ranking": "f2"},
                         embedding_fingerprints={"minilm": "e1"})
    return grid_specs(config, [data])


def test_the_plain_form_round_trips_through_json_as_tune_logs_and_restores_it():
    for plain in _specs():
        spec = TrialSpec.of(plain)
        assert isinstance(spec.train, TrainConfig) and isinstance(spec.task, Task)
        assert isinstance(spec.fusion, FusionMode)
        typed = checked(plain)
        assert {k: typed[k] for k in plain} == plain  # what the grid assembled, untouched
        assert typed["key"] == typed["store"] == ""  # fields it left out take the spec's defaults
        restored = TrialSpec.of(json.loads(json.dumps(spec.plain())))
        assert restored == spec
        assert trial_key(restored.plain()) == trial_key(plain)  # store keys do not move


def test_settings_are_attributes_with_the_defaults_of_the_spec():
    spec = TrialSpec.of(_specs()[0])
    assert spec.train.seed == spec.seed == 0 and spec.task is Task.RETRIEVAL
    assert spec.torch_threads == 1 and not spec.on_gpu
    assert TrialSpec.of(spec) is spec
