"""The identity of each embedding model under test, carried by every trial and results row.

For each embedding of a grid (:func:`embedding_identities`): ``model`` (what it was named
by), ``revision`` (the Hub commit it resolved to, or ``sha256:<content hash>`` where there
is none: local folders, the shipped model, this run's GRE model, precomputed vectors),
``parameters`` (None for vectors and endpoints) and ``trained_on`` (the entry's own
``trained_on``, else the datasets its model card lists; :mod:`gre_ray.embed.identity`).

The revision enters the trial key (:mod:`gre_ray.bench.keys`); the rest is description.
:func:`with_identity` puts it on results rows with ``seen_in_training``: the row's dataset
is one the embedding was trained on, so its score is not a fair GRE-B measurement, and the
report flags it (:func:`overlap_table`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gre_ray.bench.config import ID_ONLY, BenchmarkConfig
from gre_ray.bench.trial_spec import TrialRecord

IDENTITY_COLUMNS = ["embedding_model", "embedding_revision", "embedding_parameters", "embedding_trained_on",
                    "seen_in_training"]


def embedding_identities(config: BenchmarkConfig, encoders: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Embedding name → ``{model, revision, parameters, trained_on}``.

    Args:
        config: the benchmark settings.
        encoders: embedding name → encoder settings (``encoder.model`` set to the artifact's
            URI for artifact models: :func:`gre_ray.stages.bench_embeddings.encoder_for`).
    """
    from gre_ray.data.storage import Location, fingerprint_files
    from gre_ray.embed.identity import model_identity

    out = {}
    for model in config.embeddings:
        if model.vectors:
            found = {"model": f"vectors:{model.vectors}", "parameters": None, "trained_on": [],
                     "revision": "sha256:" + fingerprint_files(Location.of(model.vectors), content=True)}
        elif model.endpoint.url:
            found = {"model": f"{model.endpoint.url}#{model.endpoint.model}", "revision": "", "parameters": None,
                     "trained_on": []}
        else:
            found = model_identity(encoders[model.name].model)
            if model.artifact:
                found["model"] = f"artifact:{model.artifact}"
        if model.trained_on:
            found["trained_on"] = list(model.trained_on)
        out[model.name] = found
    return out


def spec_fields(identity: dict[str, Any] | None) -> dict[str, Any]:
    """The trial spec fields of an embedding's identity (empty strings for ID-only)."""
    identity = identity or {}
    return {"embedding_model": identity.get("model", ""), "embedding_revision": identity.get("revision", ""),
            "embedding_parameters": identity.get("parameters"),
            "embedding_trained_on": list(identity.get("trained_on") or [])}


def row_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The identity columns of a trial's results rows."""
    trial = TrialRecord.of(spec)
    trained = list(trial.embedding_trained_on)
    parameters = trial.embedding_parameters
    return {"embedding_model": trial.embedding_model, "embedding_revision": trial.embedding_revision,
            "embedding_parameters": float(parameters) if parameters is not None else float("nan"),
            "embedding_trained_on": ", ".join(trained),
            "seen_in_training": trial.embedding not in ("", ID_ONLY) and trial.dataset in trained}


def with_identity(results: pd.DataFrame, specs: list[dict[str, Any]]) -> pd.DataFrame:
    """``results`` with each trial's key, embedding fingerprint and identity columns (from its spec)."""
    if results.empty:
        return results.assign(**{c: pd.Series(dtype=object) for c in ["key", "embedding_fingerprint",
                                                                       *IDENTITY_COLUMNS]})
    trials = [(TrialRecord.of(s), s) for s in specs]
    by_name = {t.name: {"key": t.key, "embedding_fingerprint": t.embedding_fingerprint, **row_fields(s)}
               for t, s in trials}
    columns = ["key", "embedding_fingerprint", *IDENTITY_COLUMNS]
    values = {c: [by_name.get(t, {}).get(c) for t in results["trial"]] for c in columns}
    out = results.assign(**values)
    out["seen_in_training"] = out["seen_in_training"].fillna(False).astype(bool)
    out["embedding_parameters"] = out["embedding_parameters"].astype(float)
    return out


def overlap_table(results: pd.DataFrame) -> pd.DataFrame:
    """(embedding, dataset, trained_on) of the rows whose embedding was trained on their dataset."""
    if results.empty or "seen_in_training" not in results.columns:
        return pd.DataFrame()
    rows = results[results["seen_in_training"].fillna(False).astype(bool)]
    return rows[["embedding", "dataset", "embedding_trained_on"]].drop_duplicates().sort_values(
        ["embedding", "dataset"]).rename(columns={"embedding_trained_on": "trained_on"}).reset_index(drop=True)
