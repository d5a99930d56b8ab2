"""``gre-ray bench``: model A, then model B on the same datasets trains only B's trials; the
leaderboard holds A, B and ID-only; a killed run, rerun, finishes only the missing trials."""

from __future__ import annotations

import os
import signal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray import tune

from gre_ray.commands.bench_run import bench, resolve_model
from gre_ray.bench.store import ResultsStore
from gre_ray.data.storage import Location, read_table
from gre_ray.errors import ConfigError, DataError
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config
from gre_ray.runner.interrupt import Interrupted
from tests.bench.fakes import keyed_trial

DATASETS = ["kitchen", "footwear"]


class InterruptAfter(tune.Callback):
    """SIGUSR1 (Tune's stop signal, like Ctrl+C) to the driver after ``n`` completed trials."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1
        if self.done == self.n:
            os.kill(os.getpid(), signal.SIGUSR1)


def _config(root):
    return load_config("configs/demo.smoke.yaml", [
        f"run.root={root}", "run.stages=[demo_data, benchmark]",
        f"benchmark.datasets=[{', '.join(DATASETS)}]", "benchmark.models=[sasrec]", "benchmark.seeds=[0]",
        "benchmark.resources.max_concurrent_trials=1",
    ])


def _vectors(root, folder: str, seed: int, dim: int = 8, drop: int = 0) -> str:
    """Random vectors of every item of the demo datasets, as ``<folder>/<dataset>.parquet``."""
    items = read_table(Location.of(root) / "demo_data" / "items").to_pandas()
    out = root.parent / folder
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for dataset in DATASETS:
        ids = items.loc[items["domain"] == dataset, "item_id"].tolist()[drop:]
        vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
        pq.write_table(pa.table({"item_id": ids, "vector": list(vectors)}), str(out / f"{dataset}.parquet"))
    return str(out)


def _marks(root) -> int:
    folder = root / "marks"
    return len(os.listdir(folder)) if folder.exists() else 0


@pytest.fixture
def run_root(tmp_path):
    root = tmp_path / "run"
    config = _config(root)
    run_config(load_config("configs/demo.smoke.yaml", [f"run.root={root}", "run.stages=[demo_data]"]))
    return root, config


def test_second_model_trains_only_its_own_trials_and_a_killed_run_finishes_the_rest(ray_session, run_root):
    root, config = run_root
    a, b, c = (_vectors(root, name, seed) for name, seed in (("model_a", 1), ("model_b", 2), ("model_c", 3)))

    first = bench(config, [f"vectors:{a}"], trial_fn=keyed_trial)
    assert (first.outcome.ran, first.outcome.reused) == (4, 0)  # 2 datasets x (ID-only + A)
    assert _marks(root) == 4

    second = bench(config, [f"vectors:{b}"], trial_fn=keyed_trial)
    assert (second.outcome.ran, second.outcome.reused) == (2, 2)  # only B's; ID-only from the store
    assert _marks(root) == 6
    assert set(second.results["embedding"]) == {"id", "model_a", "model_b"}
    assert "model_a" in "\n".join(second.lines) and "model_b" in "\n".join(second.lines)
    assert not second.zero_shot.empty and set(second.zero_shot["embedding"]) == {"model_a", "model_b"}
    assert set(second.results["protocol"]) == {"full"} and second.results["history_masked"].all()

    with pytest.raises(Interrupted, match=r"3 of 4 trials in the results store .*\(1 finished in this run\)"):
        bench(config, [f"vectors:{c}"], trial_fn=keyed_trial, callbacks=(InterruptAfter(1),))
    finished = len(ResultsStore.of_run(Location.of(root)).keys()) - 6
    assert finished == 1
    marks = _marks(root)
    rerun = bench(config, [f"vectors:{c}"], trial_fn=keyed_trial)
    assert (rerun.outcome.ran, rerun.outcome.reused) == (2 - finished, 2 + finished)
    assert _marks(root) == marks + 2 - finished
    assert rerun.outcome.failed == 0 and (rerun.outcome.results["status"] == "ok").all()

    again = bench(config, [f"vectors:{c}", f"vectors:{a}"], trial_fn=keyed_trial)
    assert again.outcome.ran == 0 and "0 trained" in again.lines[0]


def test_vectors_that_do_not_cover_the_dataset_stop_before_any_trial(ray_session, run_root):
    root, config = run_root
    short = _vectors(root, "short", 4, drop=3)
    with pytest.raises(DataError, match=r"kitchen.parquet: 3 of \d+ items of dataset 'kitchen' have no vector, e\.g\."):
        bench(config, [f"vectors:{short}"], trial_fn=keyed_trial)
    assert _marks(root) == 0


def test_model_names_resolve_like_the_demo_config_names_them():
    config = load_config("configs/demo.yaml")
    assert resolve_model("minilm", config.benchmark.embeddings) == config.benchmark.embeddings[0]
    hub = resolve_model("BAAI/bge-base-en-v1.5", [], {"prefix": "passage: ", "trust_remote_code": True})
    assert hub.name == "bge_base_en_v1.5" and hub.encoder.model == "BAAI/bge-base-en-v1.5"
    assert hub.encoder.prefix == "passage: " and hub.encoder.trust_remote_code
    short = resolve_model("minilm", config.benchmark.embeddings, {"dim": 64})
    assert short.name == "minilm_d64" and short.encoder.dim == 64
    api = resolve_model("http://127.0.0.1:9/v1#org/e5-small", [])
    assert api.name == "e5_small" and api.endpoint.model == "org/e5-small"
    with pytest.raises(ConfigError, match="needs the served model after '#'"):
        resolve_model("http://127.0.0.1:9/v1", [])


@pytest.mark.slow
def test_after_the_benchmark_stage_bench_of_its_model_trains_nothing(ray_session, tmp_path, capsys):
    """The stage and ``gre-ray bench`` share one store and one key: benching the stage's
    own model afterwards trains 0 trials and prints the leaderboard with ID-only."""
    from gre_ray.cli import main

    root = tmp_path / "run"
    overrides = [f"run.root={root}", "run.stages=[demo_data, benchmark]",
                 "benchmark.embeddings=[{name: minilm, encoder: {model: minilm}}]"]
    run_config(load_config("configs/demo.smoke.yaml", overrides))
    capsys.readouterr()
    argv = ["bench", "minilm", "--config", "configs/demo.smoke.yaml"] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    print(out)
    assert "0 trained, 8 from the results store, 0 failed" in out
    assert "zero-training tier" in out and "minilm" in out and "Protocol: ranking (deepfm)" in out


def test_bench_job_hands_its_arguments_to_the_cli(monkeypatch):
    import jobs.bench

    calls = []
    monkeypatch.setattr(jobs.bench, "cli_main", lambda argv: calls.append(argv) or 0)
    assert jobs.bench.main(["minilm", "--config", "configs/demo.yaml"]) == 0
    assert calls == [["bench", "minilm", "--config", "configs/demo.yaml"]]
