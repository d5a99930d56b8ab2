"""A real GRE-B grid on tiny data: the tidy table is complete and the leaderboard arithmetic
matches a by-hand recomputation from the table."""

from __future__ import annotations

import math
from statistics import mean, stdev

import pytest

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel, ResourceSettings
from gre_ray.bench.leaderboard import leaderboard
from gre_ray.bench.results import RESULT_COLUMNS, history_table, results_table
from gre_ray.bench.trials import grid_specs
from gre_ray.recsys.train import TrainConfig
from gre_ray.wiring.tune_grid import run_grid

METRICS = ["ndcg@10", "auc", "logloss"]


@pytest.fixture(scope="module")
def grid(ray_session, tiny_inputs, tmp_path_factory):
    config = BenchmarkConfig(
        models=["dssm", "deepfm"],
        embeddings=[EmbeddingModel(name="rand")],
        seeds=[0, 1],
        train=TrainConfig(max_epochs=2, patience=2, batch_size=64),
        models_params={"deepfm": {"mlp": [16]}},
        resources=ResourceSettings(max_concurrent_trials=2),
        metrics=METRICS,
    )
    specs = grid_specs(config, tiny_inputs)
    records = run_grid(specs, str(tmp_path_factory.mktemp("tune")), "grid", config.resources)
    return specs, records


def test_every_trial_is_in_the_table_with_every_cell_filled(grid):
    specs, records = grid
    table = results_table(records)
    assert sorted(table["trial"].unique()) == sorted(s["name"] for s in specs)
    assert len(specs) == 2 * 2 * 2 * 2  # datasets × models × {id, rand-add} × seeds
    assert "footwear-dssm-rand-add-s1" in set(table["trial"])
    assert (table["status"] == "ok").all() and (table["error"] == "").all()
    assert list(table.columns) == RESULT_COLUMNS
    assert not table.drop(columns=["error"]).isna().any().any()
    assert set(table[table["task"] == "ranking"]["metric"]) == {"auc", "gauc", "logloss"}
    assert (table["epochs"] >= table["best_epoch"]).all() and (table["best_epoch"] >= 1).all()
    # ID-only and text runs of one dataset and task share one split
    assert table.groupby(["dataset", "task"])["split_fingerprint"].nunique().eq(1).all()
    history = history_table(records)
    assert len(history) == table.drop_duplicates("trial")["epochs"].sum()


def test_leaderboard_matches_a_recomputation_by_hand(grid):
    _, records = grid
    table = results_table(records)
    board = leaderboard(table, METRICS, base="rand")
    values: dict = {}
    for row in table.itertuples():
        values.setdefault((row.model, row.embedding, row.metric), {}).setdefault(row.dataset, {})[row.seed] = row.value
    for (model, embedding, metric), by_dataset in values.items():
        if metric not in METRICS:
            continue
        expected = mean(mean(seeds.values()) for seeds in by_dataset.values())
        per_seed = [mean(by_dataset[d][s] for d in by_dataset) for s in (0, 1)]
        got = board[(board["scope"] == "overall") & (board["model"] == model) & (board["embedding"] == embedding)
                    & (board["metric"] == metric)].iloc[0]
        assert math.isclose(got["mean"], expected, rel_tol=1e-9)
        assert math.isclose(got["std"], stdev(per_seed), rel_tol=1e-9, abs_tol=1e-12)
        assert got["n_datasets"] == 2 and got["n_seeds"] == 2
        reference = mean(mean(s.values()) for s in values[(model, "id", metric)].values())
        sign = -1 if metric == "logloss" else 1
        assert math.isclose(got["gain_vs_id"], sign * (expected - reference) / abs(reference), rel_tol=1e-9,
                            abs_tol=1e-12)
    scenario = board[(board["scope"] == "fashion") & (board["model"] == "dssm") & (board["embedding"] == "id")
                     & (board["metric"] == "ndcg@10")].iloc[0]
    assert math.isclose(scenario["mean"], mean(values[("dssm", "id", "ndcg@10")]["footwear"].values()))
