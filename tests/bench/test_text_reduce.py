"""``benchmark.text_reduce`` reaches every trial's fusion: PCA shrinks the text projection,
an impossible dimension fails the trial with the fusion's ConfigError."""

from __future__ import annotations

import pytest

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.bench.trial import run_trial
from gre_ray.bench.trials import make_spec
from gre_ray.errors import ConfigError
from gre_ray.recsys.train import TrainConfig


def _spec(inputs, **settings):
    config = BenchmarkConfig(
        models=["dssm"], embeddings=[EmbeddingModel(name="rand")],
        train=TrainConfig(max_epochs=1, patience=1, batch_size=64), **settings,
    )
    return make_spec(config, inputs[0], "dssm", "rand", "add", 0)


def test_pca_reduction_changes_the_projection_size(tiny_inputs):
    plain = run_trial(_spec(tiny_inputs), lambda _: None)
    reduced = run_trial(_spec(tiny_inputs, text_reduce="pca", text_reduce_dim=4), lambda _: None)
    dim = _spec(tiny_inputs)["dim"]
    assert plain["n_parameters"] - reduced["n_parameters"] == (8 - 4) * dim  # Linear(8 -> dim) vs (4 -> dim) weights


def test_a_reduction_larger_than_the_catalogue_fails_the_trial_naming_the_key(tiny_inputs):
    with pytest.raises(ConfigError, match="reduce_dim=9"):
        run_trial(_spec(tiny_inputs, text_reduce="whiten", text_reduce_dim=9), lambda _: None)


def test_bad_reduction_settings_are_rejected():
    with pytest.raises(ValueError, match="not a valid Reduction|pcaa"):
        BenchmarkConfig(text_reduce="pcaa")
    with pytest.raises(ValueError, match="text_reduce_dim"):
        BenchmarkConfig(text_reduce="pca", text_reduce_dim=0)
