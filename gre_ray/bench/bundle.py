"""The GRE-B result bundle: one self-describing JSON file of a benchmark run.

``gre-ray export RUN --out FILE.json`` writes it; ``gre-ray report --bundle FILE.json``
reads it back (:mod:`gre_ray.bench.merge` merges several). The schema is versioned
(:data:`SCHEMA_VERSION`) and documented in ``docs/bundle.md``: the models' identities, each
dataset's name, content fingerprints and statistics, the protocol of each task, every
trial's per-seed metrics, the leaderboard, the paired significance tests, the
zero-training tier and the code version. Numbers that are not finite are written as
``null`` (JSON has no NaN). A bundle of another schema version is refused in one line
naming both versions.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from gre_ray.bench.identity import IDENTITY_COLUMNS
from gre_ray.bench.keys import TRIAL_CODE_VERSION
from gre_ray.bench.leaderboard import leaderboard
from gre_ray.bench.report import DEFAULT_METRICS, META_FILE, ZERO_SHOT_FILE
from gre_ray.bench.results import RESULT_COLUMNS, find_results, read_results
from gre_ray.bench.reuse import store_tables
from gre_ray.bench.store import ZERO_SHOT, find_store, read_stores
from gre_ray.bench.stats import paired_tests
from gre_ray.data.storage import Location, read_json
from gre_ray.errors import DataError

SCHEMA = "gre-b-bundle"
SCHEMA_VERSION = 1
SPLITS_FILE = "splits/splits.json"
TRIAL_COLUMNS = RESULT_COLUMNS + ["protocol", "split_kind", "history_masked", "key", "embedding_fingerprint",
                                  *IDENTITY_COLUMNS]


def code_version() -> dict[str, Any]:
    """The installed gre-ray's version, the trial code version and, in a git checkout, the commit
    (and whether tracked files differ from it)."""
    out: dict[str, Any] = {"trial_code_version": TRIAL_CODE_VERSION}
    try:
        out["gre_ray"] = importlib.metadata.version("gre-ray")
    except importlib.metadata.PackageNotFoundError:
        out["gre_ray"] = "unknown"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                    capture_output=True, text=True, timeout=10)
            out["git_dirty"] = bool(status.stdout.strip())  # tracked files changed since that commit
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _plain(value: Any) -> Any:
    """A JSON value: NaN, NA and infinities as None, numpy scalars as Python numbers."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.astype(object).to_dict("records")]


def _datasets(results: pd.DataFrame, splits: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, rows in results.groupby("dataset", sort=True):
        fingerprints, stats = {}, {}
        for task in sorted(rows["task"].unique()):
            saved = dict(splits.get(f"{name}/{task}", {}))
            found = rows.loc[rows["task"] == task, "split_fingerprint"].dropna().unique()
            fingerprints[task] = saved.pop("fingerprint", None) or (str(found[0]) if len(found) else "")
            stats[task] = {k: _plain(v) for k, v in saved.items()}
        out.append({"name": str(name), "scenario": str(rows["scenario"].iloc[0]), "fingerprints": fingerprints,
                    "statistics": stats})
    return out


def _protocols(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if "protocol" not in results.columns:
        return {}
    out = {}
    for task, rows in results.drop_duplicates(["task", "protocol", "split_kind", "history_masked"]).groupby("task"):
        out[str(task)] = [{"ranking": r.protocol, "split_kind": r.split_kind, "history_masked": bool(r.history_masked)}
                          for r in rows.itertuples()]
    return out


def _models(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    text = results[results["embedding"] != "id"]
    for name, rows in text.groupby("embedding", sort=True):
        first = rows.iloc[0]
        entry = {c.removeprefix("embedding_"): _plain(first[c]) for c in IDENTITY_COLUMNS[:3] if c in rows.columns}
        if "parameters" in entry and entry["parameters"] is not None:
            entry["parameters"] = int(entry["parameters"])
        if "embedding_trained_on" in rows.columns:
            entry["trained_on"] = [d for d in str(first["embedding_trained_on"] or "").split(", ") if d]
        if "embedding_fingerprint" in rows.columns:
            entry["fingerprints"] = {str(d): str(f) for d, f in
                                     rows.drop_duplicates("dataset")[["dataset", "embedding_fingerprint"]].values}
        out[str(name)] = entry
    return out


def build_bundle(run: str) -> dict[str, Any]:
    """The bundle of the benchmark results behind ``run``: a run folder, its benchmark folder
    or a results file (see :func:`gre_ray.bench.results.find_results`), or, for a folder that
    ``gre-ray bench`` wrote, its results store (every trial in it).

    Raises:
        DataError: no GRE-B results there.
    """
    try:
        loc = find_results(run)
    except DataError:
        store = find_store(run)
        if store is None:
            raise
        results, _ = store_tables(read_stores([store]))
        zero = read_stores([store], ZERO_SHOT)
        return _bundle(results, zero, list(DEFAULT_METRICS), "", {}, store.root.uri)
    results, _ = read_results(loc.uri)
    meta_loc = loc.parent / META_FILE
    meta = read_json(meta_loc) if meta_loc.exists() else {}
    metrics, base = meta.get("metrics", list(DEFAULT_METRICS)), meta.get("base", "")
    splits_loc = loc.parent.parent / SPLITS_FILE
    splits = read_json(splits_loc) if splits_loc.exists() else {}
    zero_loc = loc.parent / ZERO_SHOT_FILE
    zero = pq.read_table(zero_loc.path, filesystem=zero_loc.fs).to_pandas() if zero_loc.exists() else pd.DataFrame()
    return _bundle(results, zero, metrics, base, splits, loc.uri)


def _bundle(results: pd.DataFrame, zero: pd.DataFrame, metrics: list[str], base: str, splits: dict[str, Any],
            source: str) -> dict[str, Any]:
    trials = results[[c for c in TRIAL_COLUMNS if c in results.columns]]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "code": code_version(),
        "metrics": list(metrics),
        "base_embedding": base,
        "models": _models(results),
        "datasets": _datasets(results, splits),
        "protocol": _protocols(results),
        "trials": records(trials),
        "zero_shot": records(zero),
        "leaderboard": records(leaderboard(results, metrics, base)),
        "significance": records(paired_tests(results, metrics, base)),
    }


def write_bundle(bundle: dict[str, Any], out: str) -> Location:
    """Write ``bundle`` as indented JSON to ``out`` (a path or URI); returns its location."""
    loc = Location.of(out)
    loc.parent.mkdir()
    loc.write_text(json.dumps(bundle, indent=1, allow_nan=False) + "\n")
    return loc


def read_bundle(path: str) -> dict[str, Any]:
    """A bundle read back and checked.

    Raises:
        DataError: not readable JSON, not a GRE-B bundle, or another schema version.
    """
    loc = Location.of(path)
    if not loc.exists():
        raise DataError(f"{loc.uri}: no such bundle file")
    try:
        bundle = json.loads(loc.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{loc.uri}: not a readable JSON bundle ({exc})") from None
    if not isinstance(bundle, dict) or bundle.get("schema") != SCHEMA:
        raise DataError(f"{loc.uri}: not a GRE-B result bundle (no \"schema\": \"{SCHEMA}\")")
    if bundle.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"{loc.uri}: bundle schema version {bundle.get('schema_version')}, but this gre-ray reads "
                        f"version {SCHEMA_VERSION}")
    missing = [k for k in ("trials", "datasets", "metrics") if k not in bundle]
    if missing:
        raise DataError(f"{loc.uri}: bundle lacks {', '.join(missing)}")
    return bundle


def bundle_results(bundle: dict[str, Any]) -> pd.DataFrame:
    """The trials of a bundle as a tidy results table (the columns of :mod:`gre_ray.bench.results`)."""
    frame = pd.DataFrame(bundle["trials"])
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    for column in ("value", "valid_value", "lr", "train_seconds", "wall_seconds"):
        frame[column] = frame[column].astype(float)
    for column in ("best_epoch", "epochs", "n_parameters", "text_missing"):
        frame[column] = frame[column].astype("Int64")
    frame["error"] = frame["error"].fillna("").astype(str)
    return frame


def bundle_zero_shot(bundle: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(bundle.get("zero_shot") or [])
