"""Leaderboard, gains, paired tests and trial status on hand-made results (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gre_ray.bench.leaderboard import dataset_gains, leaderboard, scenario_gains
from gre_ray.bench.results import results_table, trial_status
from gre_ray.bench.stats import MIN_PAIRS, paired_tests, wilcoxon_row
from tests.bench.synthetic import results_frame

METRICS = ["ndcg@10", "auc", "logloss"]


def test_gains_are_signed_so_that_positive_is_better():
    board = leaderboard(results_frame(), METRICS, base="base")
    overall = board[board["scope"] == "overall"].set_index(["model", "embedding", "metric"])
    for metric, model in (("ndcg@10", "sasrec"), ("auc", "deepfm"), ("logloss", "deepfm")):
        assert overall.loc[(model, "gre", metric), "gain_vs_id"] > overall.loc[(model, "base", metric), "gain_vs_id"] > 0
        assert overall.loc[(model, "gre", metric), "gain_vs_base"] > 0
        assert overall.loc[(model, "id", metric), "gain_vs_id"] == 0
        assert math.isnan(overall.loc[(model, "id", metric), "gain_vs_base"])
    logloss = overall.loc[("deepfm", "gre", "logloss")]
    ref = overall.loc[("deepfm", "id", "logloss"), "mean"]
    assert math.isclose(logloss["gain_vs_id"], (ref - logloss["mean"]) / ref)
    assert set(board["scope"]) == {"overall", "e-commerce", "video"}


def test_failed_trials_are_left_out_of_the_means():
    table = results_frame(failed=("a-sasrec-gre-add-s0",))
    board = leaderboard(table, METRICS)
    row = board[(board["scope"] == "overall") & (board["model"] == "sasrec") & (board["embedding"] == "gre")].iloc[0]
    ok = table[(table["trial"].str.startswith("a-sasrec-gre")) & (table["status"] == "ok")]
    others = table[(table["model"] == "sasrec") & (table["embedding"] == "gre") & (table["dataset"] != "a")]
    expected = np.mean([ok["value"].mean()] + [g["value"].mean() for _, g in others.groupby("dataset")])
    assert math.isclose(row["mean"], expected) and row["n_trials"] == 11


def test_scenario_and_dataset_gains_cover_every_text_variant():
    board = leaderboard(results_frame(), METRICS, base="base")
    gains = scenario_gains(board, METRICS)
    assert set(gains["embedding"]) == {"base", "gre"} and (gains["gain_vs_id"] > 0).all()
    per_dataset = dataset_gains(results_frame(), METRICS)
    assert len(per_dataset) == 4 * 2 and (per_dataset["gain"] > 0).all()


def test_wilcoxon_matches_scipy_and_refuses_too_few_pairs():
    diffs = np.array([0.3, -0.1, 0.5, 0.7, 0.2, 0.9, 0.4])
    row = wilcoxon_row(diffs)
    expected = stats.wilcoxon(diffs)
    assert row["n"] == 7 and math.isclose(row["p_value"], expected.pvalue) and row["wins"] == 6
    small = wilcoxon_row(diffs[: MIN_PAIRS - 1])
    assert math.isnan(small["p_value"]) and "too small" in small["note"]
    assert wilcoxon_row(np.zeros(8))["note"] == "all differences are zero"


def test_paired_tests_pair_matched_trials():
    tests = paired_tests(results_frame(), METRICS, base="base")
    pooled = tests[(tests["model"] == "all") & (tests["embedding"] == "gre") & (tests["reference"] == "id")].iloc[0]
    assert pooled["n"] == 4 * 2 * 3  # datasets × models × seeds
    assert pooled["wins"] == pooled["n"] and pooled["p_value"] < 0.01
    per_model = tests[(tests["model"] == "sasrec") & (tests["embedding"] == "gre") & (tests["reference"] == "base-add")]
    assert per_model.iloc[0]["n"] == 12
    one_seed = paired_tests(results_frame(seeds=(0,)), ["ndcg@10"])
    assert (one_seed["n"] == 4).all() and one_seed["p_value"].isna().all()


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"error": "RuntimeError: x", "metrics": {}}, ("failed", "RuntimeError: x")),
        ({"error": "", "metrics": {"final": 0}}, ("failed", "the trial ended without its final report")),
        ({"error": "", "metrics": {"final": 1, "test/auc": float("nan"), "test/gauc": 0.5}},
         ("failed", "non-finite test metrics: auc")),
        ({"error": "", "metrics": {"final": 1, "test/auc": 0.7}}, ("ok", "")),
    ],
)
def test_trial_status(record, expected):
    assert trial_status(record) == expected


def test_a_failed_trial_has_one_nan_row_per_metric_of_its_task():
    spec = {"name": "x", "dataset": "d", "scenario": "s", "task": "ranking", "model": "din", "embedding": "id",
            "fusion": "none", "seed": 0, "lr": 1e-3, "dim": 16}
    table = results_table([{"spec": spec, "metrics": {}, "history": [], "error": "ValueError: bad", "failures": 2}])
    assert list(table["metric"]) == ["auc", "gauc", "logloss"] and table["value"].isna().all()
    assert (table["status"] == "failed").all() and (table["failures"] == 2).all()
