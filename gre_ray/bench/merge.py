"""Merge the results of several bundles and stores into one report's table.

Rows from different sources sit in one leaderboard only when they were measured on the same
data the same way: for every (dataset, task), each source's split fingerprint and protocol
(ranking, split kind, history masking) must agree, or the merge stops with one line naming
the dataset, both values and both sources (rows measured on other data are never averaged).
A trial found in two sources (same key and metric) counts once, the first source's. An
embedding name that two sources give to different content (another fingerprint on the same
dataset) is told apart in the later source as ``<name>.<source>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from gre_ray.bench.config import ID_ONLY
from gre_ray.errors import DataError

PROTOCOL = ["protocol", "split_kind", "history_masked"]


@dataclass
class Source:
    """One input of a merged report: a label (the file or store), its results and zero-training rows."""

    label: str
    results: pd.DataFrame
    zero_shot: pd.DataFrame


def _short(label: str) -> str:
    stem = re.sub(r"\.json$", "", label.rstrip("/").rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9_.]+", "_", stem) or "source"


def _per_task(source: Source, columns: list[str]) -> dict[tuple[str, str], tuple]:
    rows = source.results
    if rows.empty or any(c not in rows.columns for c in columns):
        return {}
    found = rows.drop_duplicates(["dataset", "task", *columns])
    out: dict[tuple[str, str], tuple] = {}
    for row in found.itertuples(index=False):
        value = tuple(str(getattr(row, c)) for c in columns)
        key = (str(row.dataset), str(row.task))
        if key in out and out[key] != value:
            raise DataError(f"{source.label}: dataset {key[0]!r} ({key[1]}) holds rows of two {'/'.join(columns)} "
                            f"values ({'/'.join(out[key])} and {'/'.join(value)}); not averaging them")
        out[key] = value
    return out


def check_comparable(sources: list[Source]) -> None:
    """Raise ``DataError`` in one line when two sources measured a (dataset, task) on other
    data (split fingerprint) or under another protocol."""
    for columns, what in ((["split_fingerprint"], "split fingerprint"), (PROTOCOL, "protocol")):
        seen: dict[tuple[str, str], tuple[tuple, str]] = {}
        for source in sources:
            for key, value in _per_task(source, columns).items():
                if key in seen and seen[key][0] != value:
                    raise DataError(
                        f"not averaging dataset {key[0]!r} ({key[1]}): {what} {'/'.join(seen[key][0])} in "
                        f"{seen[key][1]} but {'/'.join(value)} in {source.label}")
                seen.setdefault(key, (value, source.label))


def _rename_clashes(sources: list[Source]) -> list[str]:
    """Rename, in later sources, embedding names that an earlier source used for other content."""
    notes: list[str] = []
    owners: dict[tuple[str, str], str] = {}
    for source in sources:
        rows = source.results
        if rows.empty or "embedding_fingerprint" not in rows.columns:
            continue
        text = rows[rows["embedding"] != ID_ONLY]
        renamed = {}
        for (dataset, name, fingerprint) in text[["dataset", "embedding", "embedding_fingerprint"]].drop_duplicates(
                ).itertuples(index=False):
            owner = owners.setdefault((str(dataset), str(name)), str(fingerprint))
            if owner != str(fingerprint):
                renamed[name] = f"{name}.{_short(source.label)}"
        if renamed:
            source.results = rows.assign(embedding=rows["embedding"].replace(renamed))
            if not source.zero_shot.empty and "embedding" in source.zero_shot.columns:
                source.zero_shot = source.zero_shot.assign(embedding=source.zero_shot["embedding"].replace(renamed))
            notes += [f"{source.label}: embedding {old!r} is other content than an earlier source's {old!r}; "
                      f"shown as {new!r}" for old, new in sorted(renamed.items())]
    return notes


def merge_sources(sources: list[Source]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(results, zero_shot, notes) of ``sources`` merged (see the module docstring).

    Raises:
        DataError: two sources disagree on a dataset's split fingerprint or protocol.
    """
    check_comparable(sources)
    notes = _rename_clashes(sources)
    frames = [s.results.assign(source=s.label) for s in sources if not s.results.empty]
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not results.empty and "key" in results.columns:
        keyed = results["key"].notna() & (results["key"].astype(str) != "")
        results = pd.concat([results[keyed].drop_duplicates(["key", "metric"], keep="first"), results[~keyed]],
                            ignore_index=True)
    zeros = [s.zero_shot.assign(source=s.label) for s in sources if not s.zero_shot.empty]
    zero = pd.concat(zeros, ignore_index=True) if zeros else pd.DataFrame()
    if not zero.empty:
        zero = zero.drop_duplicates([c for c in ("dataset", "embedding", "metric") if c in zero.columns])
    notes.insert(0, "Merged from " + ", ".join(f"{s.label} ({s.results['trial'].nunique() if not s.results.empty else 0}"
                                                 f" trials)" for s in sources) + ".")
    return results, zero, notes


def merged_report(bundles: list[str] | tuple[str, ...], stores: list[str] | tuple[str, ...] = ()) -> tuple:
    """(the report of ``bundles`` and ``stores`` merged, the first bundle's location).

    Metrics and base embedding are the first bundle's.

    Raises:
        DataError: a path holding no store, a bundle that does not read (or of another schema
            version), or sources that disagree on a dataset (:func:`check_comparable`).
    """
    from gre_ray.bench.bundle import bundle_results, bundle_zero_shot, read_bundle
    from gre_ray.bench.identity import IDENTITY_COLUMNS
    from gre_ray.bench.report import build_report
    from gre_ray.bench.reuse import latest_per_name, store_tables
    from gre_ray.bench.store import ZERO_SHOT, find_store
    from gre_ray.data.storage import Location

    read = [(path, read_bundle(path)) for path in bundles]
    sources = [Source(Location.of(path).uri, bundle_results(b), bundle_zero_shot(b)) for path, b in read]
    for path in stores:
        store = find_store(path)
        if store is None:
            raise DataError(f"{path}: no GRE-B results store (looked for trials/ and zero_shot/ in it and in its "
                            f"results_store/)")
        stored = store.read()
        kept = latest_per_name(stored)  # store_tables keeps these rows, in this order
        results, _ = store_tables(kept)
        if not kept.empty:
            extra = [c for c in ("key", "embedding_fingerprint", *IDENTITY_COLUMNS) if c in kept.columns]
            results = results.assign(**{c: kept[c].to_numpy() for c in extra})
        sources.append(Source(store.root.uri, results, store.read(ZERO_SHOT)))
    results, zero, notes = merge_sources(sources)
    first = read[0][1]
    base = first.get("base_embedding", "")
    base = base if not results.empty and base in set(results["embedding"]) else ""
    history = pd.DataFrame(columns=["trial", "dataset", "model", "embedding", "fusion", "seed", "epoch",
                                    "train_loss", "valid_score", "epoch_seconds"])
    report = build_report(results, history, list(first["metrics"]), base, zero_shot=zero, notes=notes)
    return report, Location.of(read[0][0])
