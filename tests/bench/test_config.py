"""Benchmark settings, dataset selection and trial names: mistakes fail before any trial."""

from __future__ import annotations

import pandas as pd
import pytest

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.bench.prepare import check_resources, select_datasets
from gre_ray.bench.trials import DatasetInputs, grid_specs
from gre_ray.errors import ConfigError
from gre_ray.root_config import load_config

DOMAINS = pd.DataFrame({"domain": ["kitchen", "outdoor", "cafes"], "scenario": ["e-commerce", "e-commerce", "catering"],
                        "role": ["benchmark", "train", "benchmark"]})


def test_missing_datasets_are_all_named_in_one_error():
    with pytest.raises(ConfigError) as err:
        select_datasets(DOMAINS, ["kitchen", "Arts", "Yelp"], "runs/x/demo_data/domains")
    message = str(err.value)
    assert "2 dataset(s) not available in runs/x/demo_data/domains: Arts, Yelp" in message
    assert "available: cafes, kitchen, outdoor" in message


def test_no_datasets_means_every_benchmark_domain():
    assert select_datasets(DOMAINS, []) == [("cafes", "catering"), ("kitchen", "e-commerce")]
    assert select_datasets(DOMAINS, ["outdoor"]) == [("outdoor", "e-commerce")]


@pytest.mark.parametrize(
    "override, message",
    [
        ("benchmark.models_params={sasrec: {dims: 3}}", "unknown key(s) dims for model sasrec"),
        ("benchmark.models_params={deepfm: {dim: '16'}}",
         "benchmark.models_params.deepfm.dim: expected an integer, got str '16'"),
        ("benchmark.models_params={dssm: {scoring: cosin}}", "benchmark.models_params.dssm.scoring: 'cosin' is not one of"),
        ("benchmark.models_params={sasrec: {dim: 10, n_heads: 3}}",
         "benchmark.models_params.sasrec: dim 10 is not divisible by n_heads 3"),
        ("benchmark.embeddings=[{name: a}, {name: a}]", "embedding names must be unique"),
        ("benchmark.embeddings=[{name: id}]", "not 'id'"),
        ("benchmark.base_embedding=gre", "base_embedding 'gre' is not one of the embeddings"),
        ("benchmark.fusions=[none]", "'none' is the ID-only run"),
        ("benchmark.models=[sasrec, gru4rec]", "'gru4rec' is not one of sasrec, dssm, din, deepfm"),
        ("benchmark.metrics=[ndcg@7]", "metrics: unknown ['ndcg@7']"),
        ("benchmark.resources.gpus=-1", "gpus non-negative"),
    ],
)
def test_bad_settings_fail_at_load_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(None, [override])
    assert message in str(err.value)


def test_trial_names_are_stable_and_id_only_runs_once_per_seed():
    config = BenchmarkConfig(models=["sasrec", "din"], fusions=["add", "concat"], seeds=[0, 1],
                             embeddings=[EmbeddingModel(name="minilm")])
    data = DatasetInputs("kitchen", "e-commerce", {"retrieval": "r", "ranking": "k"}, {"minilm": "m"})
    specs = grid_specs(config, [data])
    names = [s["name"] for s in specs]
    assert names[:6] == ["kitchen-sasrec-id-s0", "kitchen-sasrec-id-s1", "kitchen-sasrec-minilm-add-s0",
                         "kitchen-sasrec-minilm-add-s1", "kitchen-sasrec-minilm-concat-s0",
                         "kitchen-sasrec-minilm-concat-s1"]
    assert len(specs) == 2 * (1 + 2) * 2 and names == [s["name"] for s in grid_specs(config, [data])]
    din = next(s for s in specs if s["name"] == "kitchen-din-minilm-concat-s1")
    assert din["split_path"] == "k" and din["embedding_path"] == "m" and din["train"]["seed"] == 1


def test_resources_the_cluster_cannot_give_are_refused():
    config = load_config(None, ["benchmark.resources.gpus=0.25"]).benchmark
    with pytest.raises(ConfigError, match="0.25 GPU per trial, but the Ray cluster has 2 CPU and 0 GPU"):
        check_resources(config, {"CPU": 2.0})
    check_resources(config, {"CPU": 2.0, "GPU": 1.0})
