"""Experiment tracking of GRE-B: ``benchmark.tracking=mlflow`` leaves an MLflow store under
the run folder with one run per trial (tags, per-epoch and test metrics, read back with
``mlflow.search_runs``); a backend that cannot work stops the run at preflight."""

from __future__ import annotations

import pytest

from gre_ray.bench.config import EmbeddingModel
from gre_ray.bench.store import ResultsStore
from gre_ray.commands.bench_run import bench
from gre_ray.data.storage import Location, fingerprint_files
from gre_ray.errors import ConfigError
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config
from tests.bench.fakes import keyed_trial
from tests.bench.test_bench_reuse import DATASETS, _config, _vectors


def _runs(root):
    import mlflow

    mlflow.set_tracking_uri((root / "mlruns").as_uri())
    return mlflow.search_runs(experiment_names=["gre-b"])


def test_mlflow_tracking_logs_one_run_per_trial_with_its_key_protocol_and_metrics(ray_session, tmp_path):
    root = tmp_path / "run"
    run_config(load_config("configs/demo.smoke.yaml", [f"run.root={root}", "run.stages=[demo_data]"]))
    config = _config(root)
    config.benchmark.tracking = "mlflow"
    vectors = _vectors(root, "model_a", 1)
    config.benchmark.embeddings = [EmbeddingModel(name="model_a", vectors=vectors, trained_on=["kitchen"])]
    run = bench(config, ["model_a"], trial_fn=keyed_trial)
    outcome = run.outcome

    # the embedding's identity is on every row; rows of a dataset it was trained on are flagged
    text = outcome.results[outcome.results["embedding"] == "model_a"]
    assert set(text["embedding_revision"]) == {"sha256:" + fingerprint_files(Location.of(vectors), content=True)}
    assert set(text.loc[text["seen_in_training"], "dataset"]) == {"kitchen"}
    assert not outcome.results.loc[outcome.results["embedding"] == "id", "seen_in_training"].any()
    page = open(Location.of(run.report).path).read()
    assert "Flagged: embeddings measured on data they were trained on" in page

    runs = _runs(root)
    trials = runs[runs["tags.gre.grid"].notna() & runs["tags.gre.key"].notna()]
    grids = runs[runs["tags.gre.kind"] == "grid"]
    assert len(trials) == outcome.ran == 2 * len(DATASETS) and len(grids) == 1
    assert set(trials["tags.mlflow.parentRunId"]) == set(grids["run_id"])
    assert set(trials["tags.mlflow.runName"]) == {s["name"] for s in outcome.specs}
    assert (trials["status"] == "FINISHED").all()
    stored = ResultsStore.of_run(Location.of(root)).read()
    test = stored[stored["metric"] == "ndcg@10"].set_index("key")["value"]
    for row in trials.to_dict("records"):
        assert row["metrics.test/ndcg_at_10"] == pytest.approx(test[row["tags.gre.key"]])
    assert set(trials["tags.gre.protocol"]) == {"full"} and set(trials["tags.gre.history_masked"]) == {"true"}
    assert set(trials["params.train.seed"]) == {"0"} and "params.split_path" not in trials.columns
    assert set(trials["tags.gre.embedding_revision"].dropna()) == set(text["embedding_revision"])

    from gre_ray.tracking.mlflow_runs import client

    history = client((root / "mlruns").as_uri()).get_metric_history(trials["run_id"].iloc[0], "train_loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 0.5)]


def test_a_tracking_server_that_cannot_be_reached_stops_the_run_at_preflight(tmp_path):
    config = load_config("configs/demo.smoke.yaml", [
        f"run.root={tmp_path / 'run'}", "benchmark.tracking=mlflow", "benchmark.tracking_uri=http://127.0.0.1:9",
    ])
    with pytest.raises(ConfigError, match=r"^benchmark.tracking_uri http://127.0.0.1:9: the MLflow server cannot be "
                                          r"reached"):
        run_config(config)
    assert not (tmp_path / "run").exists()


def test_a_tracking_backend_that_is_not_installed_is_one_line(tmp_path, monkeypatch):
    from gre_ray.tracking import check

    monkeypatch.setattr(check, "_installed", lambda module: False)
    for backend, package in (("mlflow", "mlflow-skinny"), ("wandb", "wandb")):
        config = load_config("configs/demo.smoke.yaml", [f"run.root={tmp_path / 'run'}",
                                                         f"benchmark.tracking={backend}"])
        with pytest.raises(ConfigError, match=rf"^benchmark.tracking={backend}: .* not installed \(pip install "
                                              rf"{package}\)$"):
            run_config(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_smoke_benchmark_with_mlflow_tracking_exports_and_merges(ray_session, tmp_path, capsys):
    """The smoke benchmark with ``benchmark.tracking=mlflow``: one MLflow run per trial with
    its test metrics (equal to the results table); ``gre-ray export`` of the run and of a
    second one (another seed) merge into one HTML report with ``gre-ray report --bundle``."""
    import pandas as pd

    from gre_ray.bench.results import read_results
    from gre_ray.cli import main

    root = tmp_path / "run"
    overrides = [f"run.root={root}", "run.stages=[demo_data, benchmark]", "benchmark.tracking=mlflow",
                 "benchmark.embeddings=[{name: minilm, encoder: {model: minilm}}]"]
    run_config(load_config("configs/demo.smoke.yaml", overrides))
    results, _ = read_results(str(root))
    runs = _runs(root)
    trials = runs[runs["tags.gre.key"].notna()]
    assert len(trials) == results["trial"].nunique() == 8 and (trials["status"] == "FINISHED").all()
    ndcg = results[results["metric"] == "ndcg@10"].set_index("key")["value"]
    logged = trials.dropna(subset=["metrics.test/ndcg_at_10"]).set_index("tags.gre.key")["metrics.test/ndcg_at_10"]
    pd.testing.assert_series_equal(logged.sort_index(), ndcg.sort_index(), check_names=False, rtol=1e-6)
    assert set(results.loc[results["embedding"] == "minilm", "embedding_revision"]) == set(
        trials["tags.gre.embedding_revision"].dropna())

    assert main(["export", str(root), "--out", str(tmp_path / "A.json")]) == 0
    run_config(load_config("configs/demo.smoke.yaml", overrides + ["benchmark.seeds=[1]",
                                                                   "benchmark.models=[sasrec]"]))
    assert main(["export", str(root), "--out", str(tmp_path / "B.json")]) == 0
    assert main(["report", "--bundle", str(tmp_path / "A.json"), "--bundle", str(tmp_path / "B.json"),
                 "--out", str(tmp_path / "merged")]) == 0
    md = (tmp_path / "merged" / "report.md").read_text()
    assert "12 trials (12 ok, 0 failed)" in md and "seeds [0, 1]" in md
    assert (tmp_path / "merged" / "report.html").exists()


def test_the_default_store_needs_a_local_run_folder():
    from gre_ray.tracking.check import check_tracking
    from gre_ray.tracking.config import store_uri

    with pytest.raises(ConfigError, match=r"^benchmark.tracking=mlflow: run.root 's3://b/run' is not a local folder, "
                                          r"so the default store <run.root>/mlruns cannot live there; set "
                                          r"benchmark.tracking_uri"):
        check_tracking("mlflow", "", "s3://b/run", "benchmark")
    check_tracking("none", "", "s3://b/run", "benchmark")
    assert store_uri("", "/x/run") == "file:///x/run/mlruns" and store_uri("http://h:5000", "/x") == "http://h:5000"
