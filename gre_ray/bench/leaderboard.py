"""GRE-B leaderboards and gains, computed from the tidy results table.

For every scope (``overall`` and each scenario), model, embedding, fusion and metric:

* ``mean`` — the mean over datasets of the mean over seeds (successful trials only);
* ``std`` — the standard deviation over seeds (ddof 1) of the per-seed mean over datasets
  (NaN with one seed);
* ``gain_vs_id`` / ``gain_vs_base`` — the relative difference of ``mean`` to the ID-only
  run of the same model, and to the base embedding model with the same fusion, signed so
  that a positive gain is an improvement (Logloss is lower-is-better).

A gain compares leaderboard means; when trials failed, the two means may average over
different datasets (``n_datasets`` says how many). The paired test in
:mod:`gre_ray.bench.stats` compares matched trials only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gre_ray.bench.config import ID_ONLY
from gre_ray.bench.results import OK
from gre_ray.bench.trials import task_of
from gre_ray.recsys.metric_table import headline_metric, lower_is_better

OVERALL = "overall"
KEY = ["model", "embedding", "fusion", "metric"]
BOARD_COLUMNS = ["scope", *KEY, "mean", "std", "n_datasets", "n_seeds", "n_trials", "gain_vs_id", "gain_vs_base"]


def ok_rows(results: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Successful, finite rows of ``results`` (restricted to ``metrics`` when given)."""
    rows = results[(results["status"] == OK) & np.isfinite(results["value"].astype(float))]
    if metrics is not None:
        rows = rows[rows["metric"].isin(metrics)]
    return rows


def relative_gain(value: pd.Series, reference: pd.Series, metric: pd.Series) -> pd.Series:
    """``(value - reference) / |reference|`` row by row, negated for lower-is-better metrics."""
    sign = np.where(metric.map(lower_is_better).to_numpy(dtype=bool), -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sign * (value - reference) / np.abs(reference)


def _board(rows: pd.DataFrame, scope: str) -> pd.DataFrame:
    per_dataset = rows.groupby(KEY + ["dataset"], as_index=False)["value"].mean()
    board = per_dataset.groupby(KEY, as_index=False).agg(mean=("value", "mean"), n_datasets=("dataset", "nunique"))
    per_seed = rows.groupby(KEY + ["seed"], as_index=False)["value"].mean()
    spread = per_seed.groupby(KEY, as_index=False).agg(std=("value", lambda v: v.std(ddof=1) if len(v) > 1 else np.nan),
                                                       n_seeds=("seed", "nunique"))
    counts = rows.groupby(KEY, as_index=False).agg(n_trials=("trial", "nunique"))
    board = board.merge(spread, on=KEY).merge(counts, on=KEY)
    board.insert(0, "scope", scope)
    return board


def leaderboard(results: pd.DataFrame, metrics: list[str], base: str = "") -> pd.DataFrame:
    """The leaderboard of ``results``, overall and per scenario (see the module docstring).

    Args:
        results: the tidy results table.
        metrics: metrics to include.
        base: the base embedding model (``gain_vs_base`` is NaN when empty).

    Returns:
        One row per (scope, model, embedding, fusion, metric), ``overall`` first.
    """
    rows = ok_rows(results, metrics)
    if rows.empty:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    parts = [_board(rows, OVERALL)]
    parts += [_board(group, scenario) for scenario, group in sorted(rows.groupby("scenario"), key=lambda g: g[0])]
    board = pd.concat(parts, ignore_index=True)
    scope_model = ["scope", "model", "metric"]
    id_ref = board[board["embedding"] == ID_ONLY][scope_model + ["mean"]].rename(columns={"mean": "id_mean"})
    base_ref = board[board["embedding"] == base][scope_model + ["fusion", "mean"]].rename(columns={"mean": "base_mean"})
    board = board.merge(id_ref, on=scope_model, how="left").merge(base_ref, on=scope_model + ["fusion"], how="left")
    board["gain_vs_id"] = relative_gain(board["mean"], board["id_mean"], board["metric"])
    board["gain_vs_base"] = relative_gain(board["mean"], board["base_mean"], board["metric"])
    return board[BOARD_COLUMNS]


def headline(board: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The rows of each model's headline metric (``ndcg@10`` retrieval, ``auc`` ranking)."""
    keep = board["metric"] == board["model"].map(lambda m: headline_metric(task_of(m), metrics))
    return board[keep]


def scenario_gains(board: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean ``gain_vs_id`` over models of the headline metrics, per scope, embedding and fusion."""
    rows = headline(board, metrics)
    rows = rows[rows["embedding"] != ID_ONLY]
    return rows.groupby(["scope", "embedding", "fusion"], as_index=False, sort=False)["gain_vs_id"].mean()


def dataset_gains(results: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per dataset and text variant: the mean over models of the relative gain over ID-only
    (headline metric, each side averaged over seeds first). Columns: dataset, scenario,
    embedding, fusion, gain."""
    rows = ok_rows(results)
    rows = rows[rows["metric"] == rows["model"].map(lambda m: headline_metric(task_of(m), metrics))]
    means = rows.groupby(["dataset", "scenario", "model", "embedding", "fusion", "metric"], as_index=False)["value"].mean()
    ref = means[means["embedding"] == ID_ONLY][["dataset", "model", "value"]].rename(columns={"value": "ref"})
    text = means[means["embedding"] != ID_ONLY].merge(ref, on=["dataset", "model"])
    text["gain"] = relative_gain(text["value"], text["ref"], text["metric"])
    return text.groupby(["dataset", "scenario", "embedding", "fusion"], as_index=False)["gain"].mean()
