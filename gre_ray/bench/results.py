"""The tidy results table of a GRE-B run, and its per-epoch history.

``results``: one row per (trial, test metric) with the trial's identity (dataset, scenario,
task, model, embedding, fusion, seed, lr, dim), the test ``value`` and validation
``valid_value`` of the best epoch, ``best_epoch``, ``epochs``, times, ``status`` (``ok`` or
``failed``), ``error`` and ``failures`` (crashes, retried ones included). A trial that
crashed past its retries, ended without its final report, or reported a non-finite test
metric is ``failed``; its values are NaN and no leaderboard averages them in.

``history``: one row per (trial, epoch) with ``train_loss`` and ``valid_score``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gre_ray.bench.trial_spec import TrialRecord
from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.recsys.metric_table import task_metrics

ID_COLUMNS = ["trial", "dataset", "scenario", "task", "model", "embedding", "fusion", "seed", "lr", "dim"]
RESULT_COLUMNS = ID_COLUMNS + [
    "metric", "value", "valid_value", "best_epoch", "epochs", "train_seconds", "wall_seconds",
    "n_parameters", "text_missing", "status", "error", "failures", "split_fingerprint",
]
HISTORY_COLUMNS = ["trial", "dataset", "model", "embedding", "fusion", "seed", "epoch", "train_loss", "valid_score",
                   "epoch_seconds"]
OK, FAILED = "ok", "failed"
RESULTS_FILE, CSV_FILE, HISTORY_FILE = "results.parquet", "results.csv", "history.parquet"


def trial_status(record: dict[str, Any]) -> tuple[str, str]:
    """(status, error) of a trial record from :func:`gre_ray.wiring.tune_grid.trial_record`."""
    if record.get("error"):
        return FAILED, record["error"]
    metrics = record.get("metrics") or {}
    if metrics.get("final") != 1:
        return FAILED, "the trial ended without its final report"
    tests = {k[5:]: v for k, v in metrics.items() if k.startswith("test/")}
    bad = sorted(k for k, v in tests.items() if not _finite(v))
    if not tests or bad:
        return FAILED, f"non-finite test metrics: {', '.join(bad) or 'none reported'}"
    return OK, ""


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def results_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The tidy results table of a list of trial records (see the module docstring)."""
    rows = []
    for record in records:
        trial, metrics = TrialRecord.of(record["spec"]), record.get("metrics") or {}
        status, error = trial_status(record)
        ident = trial.identity(ID_COLUMNS)
        names = [k[5:] for k in metrics if k.startswith("test/")] if status == OK else task_metrics(trial.task)
        for metric in names:
            ok = status == OK
            rows.append({
                **ident,
                "metric": metric,
                "value": float(metrics[f"test/{metric}"]) if ok else math.nan,
                "valid_value": float(metrics.get(f"valid/{metric}", math.nan)) if ok else math.nan,
                "best_epoch": int(metrics["best_epoch"]) if ok else None,
                "epochs": int(metrics["epochs"]) if ok else None,
                "train_seconds": float(metrics.get("train_seconds", math.nan)) if ok else math.nan,
                "wall_seconds": float(metrics.get("wall_seconds", math.nan)) if ok else math.nan,
                "n_parameters": int(metrics.get("n_parameters", 0)) if ok else None,
                "text_missing": int(metrics.get("text_missing", 0)) if ok else None,
                "status": status,
                "error": error,
                "failures": int(record.get("failures", 0)),
                "split_fingerprint": str(metrics.get("split_fingerprint", "")),
            })
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for column in ("best_epoch", "epochs", "n_parameters", "text_missing"):
        frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["dataset", "model", "embedding", "fusion", "seed", "metric"], ignore_index=True)


def history_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (trial, epoch) of every trial that reported at least one epoch."""
    rows = []
    for record in records:
        ident = TrialRecord.of(record["spec"]).identity(HISTORY_COLUMNS[:6])
        rows += [{**ident, **{k: h.get(k, math.nan) for k in HISTORY_COLUMNS[6:]}} for h in record["history"]]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def write_results(results: pd.DataFrame, history: pd.DataFrame, folder: Location) -> None:
    """Write ``results.parquet``, ``results.csv`` and ``history.parquet`` under ``folder``."""
    folder.mkdir()
    table = pa.Table.from_pandas(results, preserve_index=False)
    pq.write_table(table, (folder / RESULTS_FILE).path, filesystem=folder.fs)
    with folder.fs.open_output_stream((folder / CSV_FILE).path) as stream:
        pacsv.write_csv(table, stream)
    pq.write_table(pa.Table.from_pandas(history, preserve_index=False), (folder / HISTORY_FILE).path,
                   filesystem=folder.fs)


def find_results(path: str) -> Location:
    """The results file behind ``path``: a results file, or a folder holding one.

    Looks at ``path`` itself, then ``path/results.parquet``, ``path/results/results.parquet``
    (a benchmark stage folder) and ``path/benchmark/results/results.parquet`` (a run folder).

    Raises:
        DataError: none of them exists.
    """
    loc = Location.of(path)
    if not loc.is_dir() and loc.exists():
        return loc
    candidates = [loc / RESULTS_FILE, loc / "results" / RESULTS_FILE, loc / "benchmark" / "results" / RESULTS_FILE]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise DataError(f"{loc.uri}: no GRE-B results found (looked for {', '.join(c.uri for c in candidates)})")


def read_results(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, history) behind ``path`` (see :func:`find_results`); history may be empty.

    Raises:
        DataError: no results file, or one without the results columns.
    """
    loc = find_results(path)
    try:
        if loc.path.endswith(".csv"):
            with loc.fs.open_input_stream(loc.path) as stream:
                results = pacsv.read_csv(stream).to_pandas()
        else:
            results = pq.read_table(loc.path, filesystem=loc.fs).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{loc.uri}: cannot read the results: {exc}") from None
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise DataError(f"{loc.uri}: not a GRE-B results table (missing columns {', '.join(missing)})")
    results["error"] = results["error"].fillna("").astype(str)
    history_loc = loc.parent / HISTORY_FILE
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    if history_loc.exists():
        history = pq.read_table(history_loc.path, filesystem=history_loc.fs).to_pandas()
    return results, history
