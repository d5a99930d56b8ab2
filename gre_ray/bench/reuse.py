"""Trial-level reuse: store each finished trial under its key, find the trials a grid lacks.

A trial that finishes with finite test metrics writes its rows into the results store
itself (:func:`store_result`, called by the Tune trainable when the spec names a store),
so a grid killed halfway keeps every trial that finished, and a later grid, of this model
or another, runs only the trials whose key has no stored result. ID-only and baseline
trials are therefore computed once and shared by every embedding model benched later.

Stored rows are the tidy results rows of :mod:`gre_ray.bench.results` plus ``key``,
``settings_key``, ``embedding_fingerprint``, the protocol (``protocol``: full, sampled or
labelled ranking; ``split_kind``; ``history_masked``), the embedding's identity
(:mod:`gre_ray.bench.identity`) and the per-epoch ``history`` as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from gre_ray.bench.identity import row_fields
from gre_ray.bench.keys import settings_key, trial_key
from gre_ray.bench.results import HISTORY_COLUMNS, OK, RESULT_COLUMNS, results_table, trial_status
from gre_ray.bench.store import ResultsStore
from gre_ray.bench.trial_spec import TrialRecord
from gre_ray.data.shared import shared_uri

PROTOCOL_COLUMNS = ["protocol", "split_kind", "history_masked"]
STORE_COLUMNS = ["key", "settings_key", "embedding_fingerprint", *PROTOCOL_COLUMNS, "history"]


def with_keys(specs: list[dict[str, Any]], store: ResultsStore | None) -> list[dict[str, Any]]:
    """The specs with their ``key`` (and ``store``, the store's URI, when given) set."""
    out = []
    for spec in specs:
        extra = {"key": trial_key(spec)}
        if store is not None:
            extra["store"] = shared_uri(store.root)  # trials append from any node
        out.append({**spec, **extra})
    return out


def protocol_columns(spec: dict[str, Any]) -> dict[str, Any]:
    protocol = TrialRecord.of(spec).protocol
    return {"protocol": protocol.get("ranking", ""), "split_kind": protocol.get("split", ""),
            "history_masked": bool(protocol.get("history_masked", False))}


def stored_rows(record: dict[str, Any]) -> pd.DataFrame:
    """The store rows of one finished trial record (empty unless its status is ``ok``)."""
    status, _ = trial_status(record)
    if status != OK:
        return pd.DataFrame()
    spec = record["spec"]
    trial = TrialRecord.of(spec)
    rows = results_table([record])
    if trial.split_fingerprint:
        rows["split_fingerprint"] = trial.split_fingerprint  # the split's own, as keyed
    return rows.assign(
        key=trial.key or trial_key(spec),
        settings_key=settings_key(spec),
        embedding_fingerprint=trial.embedding_fingerprint,
        history=json.dumps(record.get("history") or []),
        **protocol_columns(spec),
        **row_fields(spec),
    )


def stores_its_result(spec: dict[str, Any]) -> bool:
    """Whether a trial's plain form names a results store to append its result to."""
    return bool(TrialRecord.of(spec).store)


def embedding_entries(specs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(embedding, dataset, embeddings URI) of every trial that reads vectors ("" for ID-only)."""
    trials = [TrialRecord.of(spec) for spec in specs]
    return {(t.embedding, t.dataset, t.embedding_path) for t in trials}


def store_result(spec: dict[str, Any], final: dict[str, Any], history: list[dict[str, float]]) -> None:
    """Append a finished trial to the store its spec names (nothing when it failed)."""
    rows = stored_rows({"spec": spec, "metrics": final, "history": history, "error": "", "failures": 0})
    if not rows.empty:
        trial = TrialRecord.of(spec)
        ResultsStore(trial.store).append(rows, tag=trial.key[:12])


def split_by_store(specs: list[dict[str, Any]], stored: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """(specs with a stored result, specs without one); the specs carry their ``key``."""
    have = set(stored["key"]) if not stored.empty else set()
    done = [s for s in specs if TrialRecord.of(s).key in have]
    return done, [s for s in specs if TrialRecord.of(s).key not in have]


def reused_tables(specs: list[dict[str, Any]], stored: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, history) of ``specs`` from stored rows, relabelled with each spec's own
    name, embedding name and scenario (a key says what was measured, not what it was called)."""
    if not specs or stored.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS + PROTOCOL_COLUMNS), pd.DataFrame(columns=HISTORY_COLUMNS)
    by_key = {key: group for key, group in stored.groupby("key")}
    results, history = [], []
    for trial in map(TrialRecord.of, specs):
        rows = by_key[trial.key].copy()
        rows["trial"], rows["embedding"], rows["scenario"] = trial.name, trial.embedding, trial.scenario
        results.append(rows)
        ident = trial.identity(HISTORY_COLUMNS[:6])
        history += [{**ident, **{k: h.get(k) for k in HISTORY_COLUMNS[6:]}}
                    for h in json.loads(rows["history"].iloc[0] or "[]")]
    table = pd.concat(results, ignore_index=True)
    return table[[c for c in RESULT_COLUMNS + PROTOCOL_COLUMNS if c in table.columns]], \
        pd.DataFrame(history, columns=HISTORY_COLUMNS)


def latest_per_name(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose embedding name maps to one content per dataset: where a name was measured
    with several fingerprints on one dataset (a retrained model under its old name), the
    newest one's rows. The fingerprint covers the dataset's item texts, so one model has a
    different fingerprint on every dataset; all of those are kept."""
    if rows.empty or "embedding_fingerprint" not in rows.columns:
        return rows
    scope = [c for c in ("dataset", "embedding") if c in rows.columns]
    newest = rows.groupby(scope + ["embedding_fingerprint"])["written_at"].max().reset_index()
    newest = newest.sort_values("written_at").drop_duplicates(scope, keep="last")
    columns = scope + ["embedding_fingerprint"]
    keep = set(newest[columns].itertuples(index=False, name=None))
    return rows[[row in keep for row in rows[columns].itertuples(index=False, name=None)]]


def store_tables(stored: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, history) of stored rows as they were named when they ran."""
    if stored.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS + PROTOCOL_COLUMNS), pd.DataFrame(columns=HISTORY_COLUMNS)
    stored = latest_per_name(stored)
    history = []
    for row in stored.drop_duplicates("key").itertuples(index=False):
        ident = {"trial": row.trial, **{c: getattr(row, c) for c in HISTORY_COLUMNS[1:6]}}
        history += [{**ident, **{k: h.get(k) for k in HISTORY_COLUMNS[6:]}} for h in json.loads(row.history or "[]")]
    results = stored[[c for c in RESULT_COLUMNS + PROTOCOL_COLUMNS if c in stored.columns]].reset_index(drop=True)
    return results, pd.DataFrame(history, columns=HISTORY_COLUMNS)


def comparable_rows(stored: pd.DataFrame, specs: list[dict[str, Any]]) -> pd.DataFrame:
    """Stored rows measured the way ``specs`` are: the same recommender settings and the
    same splits (so any embedding model stored on them can sit in one leaderboard),
    excluding the specs' own keys (their rows come relabelled from :func:`reused_tables`)."""
    if stored.empty or not specs:
        return stored.iloc[0:0]
    settings = {settings_key(s) for s in specs}
    trials = [TrialRecord.of(s) for s in specs]
    splits = {t.split_fingerprint for t in trials}
    own = {t.key for t in trials}
    keep = stored["settings_key"].isin(settings) & stored["split_fingerprint"].isin(splits) & ~stored["key"].isin(own)
    return stored[keep]
