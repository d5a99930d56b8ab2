"""The held-out signal's inputs, built file by file: held-out users' sequences and a bounded candidate pool.

:mod:`gre_ray.train.signal` scores each held-out user's next item against a pool of the
domain's items. At the size of the real corpus (millions of items and hundreds of millions
of interactions per domain) neither the interactions nor the catalogue fit in one process,
so the inputs are assembled in rounds whose bodies each read one Parquet file (the Ray
wiring, :mod:`gre_ray.wiring.train_signal`, fans them out; :func:`gre_ray.train.signal.signal_tasks`
runs the same rounds on tables in one process):

1. :func:`user_candidates`: per domain, the held-out users of a file (the pairs stage's hash,
   :func:`gre_ray.data.heldout_users.heldout_rows`), the smallest ``cap`` by user id, and the
   row counts before and after the split; :func:`merge_candidates` keeps the global smallest;
2. :func:`candidate_rows`: those users' interactions;
3. :func:`item_summary`: items per domain and the smallest ``pool`` seeded hashes of item ids
   (a uniform sample that depends neither on the files nor their order); :func:`thresholds`
   turns the merged summaries into each domain's largest sampled hash;
4. :func:`item_lookup`: which items the candidates' rows name exist, and the sample's texts;
   :func:`item_texts`: the texts of the users' queries and targets that the sample lacks;
5. :func:`gre_ray.train.signal.build_task`: the users' last transitions, their histories, the pool.

On Ray the texts of rounds 4 never reach the driver: each file's task stages them as Parquet
parts and one task per domain runs round 5 on them and writes the domain's signal
(:mod:`gre_ray.train.signal_store`); the driver holds ids, counts and hashes only.

The pool is every item when the domain has at most ``pool`` items (the numbers then equal a
full ranking), else the users' queries and targets plus the sample. Users are the first
``max_users`` with a usable last transition among the first ``cap`` held-out users by id.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.heldout_users import heldout_rows
from gre_ray.data.storage import Location

INTERACTION_COLUMNS = ["domain", "user_id", "item_id", "timestamp"]
ITEM_COLUMNS = ["domain", "item_id", "text"]
CANDIDATES_PER_USER = 4  # held-out users read per user scored (the rest lack a usable last transition)


def of_domains(table: pa.Table, domains: Sequence[str]) -> pa.Table:
    """The rows of ``domains`` only."""
    return table.filter(pc.is_in(table.column("domain"), pa.array(list(domains), pa.string())))


def read_file(file: Location, columns: list[str], domains: Sequence[str]) -> pa.Table:
    """The ``columns`` of one Parquet file's rows of ``domains``."""
    table = pq.read_table(file.path, filesystem=file.fs, columns=columns)
    return of_domains(table, domains)


def by_domain(table: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    for domain in sorted(pc.unique(table.column("domain")).to_pylist()):
        yield domain, table.filter(pc.equal(table.column("domain"), domain))


# ---------------------------------------------------------------- 1-2. held-out users


def user_candidates(table: pa.Table, fraction: float, seed: int, cap: int) -> dict[str, dict[str, Any]]:
    """Per domain of ``table``: ``rows``, ``held`` (rows of held-out users) and ``users`` (the
    smallest ``cap`` held-out user ids, sorted, a string array)."""
    held = pa.array(heldout_rows(table, fraction, seed))
    out = {}
    for domain, part in by_domain(table.append_column("_held", held)):
        mask = part.column("_held")
        users = pc.unique(part.column("user_id").filter(mask)) if part.num_rows else pa.array([], pa.string())
        users = users.take(pc.sort_indices(users))[:cap]
        out[domain] = {"rows": part.num_rows, "held": int(pc.sum(mask).as_py() or 0), "users": users}
    return out


def merge_candidates(parts: Iterable[dict[str, dict[str, Any]]], cap: int) -> dict[str, dict[str, Any]]:
    """The union of :func:`user_candidates` results: counts summed, the smallest ``cap`` users kept."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for domain, got in part.items():
            acc = out.setdefault(domain, {"rows": 0, "held": 0, "users": pa.array([], pa.string())})
            acc["rows"] += got["rows"]
            acc["held"] += got["held"]
            users = pc.unique(pa.concat_arrays([acc["users"], got["users"].cast(pa.string())]))
            acc["users"] = users.take(pc.sort_indices(users))[:cap]
    return out


def candidate_rows(table: pa.Table, users: dict[str, pa.Array]) -> pa.Table:
    """The rows of ``users`` (per domain), in ``table``'s order."""
    mask = np.zeros(table.num_rows, dtype=bool)
    domain = table.column("domain")
    for d, ids in users.items():
        mask |= (pc.equal(domain, d).to_numpy(zero_copy_only=False)
                 & pc.is_in(table.column("user_id"), ids).to_numpy(zero_copy_only=False))
    return table.filter(pa.array(mask)).select(INTERACTION_COLUMNS)


# ---------------------------------------------------------------- 3-4. items and the pool


def item_hash(ids: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """(n,) uint64 seeded hash of item ids (a uniform sample keeps the smallest)."""
    import pandas as pd

    values = np.asarray(ids.to_pylist(), dtype=object)
    key = f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"[-16:]
    return pd.util.hash_array(values, hash_key=key, categorize=False).astype(np.uint64)


def item_summary(table: pa.Table, seed: int, pool: int) -> dict[str, dict[str, Any]]:
    """Per domain: ``items`` and ``hashes``, the smallest ``pool`` item hashes, sorted."""
    out = {}
    for domain, part in by_domain(table):
        h = item_hash(part.column("item_id"), seed)
        out[domain] = {"items": part.num_rows, "hashes": np.sort(h)[:pool]}
    return out


def merge_summaries(parts: Iterable[dict[str, dict[str, Any]]], pool: int) -> dict[str, dict[str, Any]]:
    """The union of :func:`item_summary` results (foldable: the same shape again)."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for domain, got in part.items():
            acc = out.setdefault(domain, {"items": 0, "hashes": np.zeros(0, np.uint64)})
            acc["items"] += got["items"]
            acc["hashes"] = np.sort(np.concatenate([acc["hashes"], got["hashes"]]))[:pool]
    return out


def thresholds(summary: dict[str, dict[str, Any]], pool: int) -> dict[str, int | None]:
    """Per domain, the largest sampled hash; None when the whole catalogue fits the pool."""
    return {d: None if s["items"] <= pool else int(s["hashes"][-1]) for d, s in summary.items()}


def item_lookup(
    table: pa.Table, named: dict[str, pa.Array], thresholds: dict[str, int | None], seed: int
) -> dict[str, dict[str, Any]]:
    """Per domain: ``found`` (the ids of ``named`` that are items) and ``sample`` (the sampled
    items' ``item_id`` and ``text``: all of them with a None threshold)."""
    out = {}
    for domain, part in by_domain(table):
        if domain not in thresholds:
            continue
        ids = part.column("item_id")
        found = ids.filter(pc.is_in(ids, named.get(domain, pa.array([], pa.string()))))
        threshold = thresholds[domain]
        keep = np.ones(part.num_rows, bool) if threshold is None else item_hash(ids, seed) <= np.uint64(threshold)
        out[domain] = {"found": found.combine_chunks(), "sample": part.filter(pa.array(keep)).select(["item_id", "text"])}
    return out


def merge_lookups(parts: Iterable[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, list]] = {}
    for part in parts:
        for domain, got in part.items():
            acc = out.setdefault(domain, {"found": [], "sample": []})
            acc["found"].append(got["found"].cast(pa.string()))
            acc["sample"].append(got["sample"])
    return {d: {"found": pa.concat_arrays(v["found"]), "sample": pa.concat_tables(v["sample"], promote_options="permissive")} for d, v in out.items()}


def empty_items() -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in ITEM_COLUMNS})


def item_texts(table: pa.Table, wanted: dict[str, pa.Array]) -> pa.Table:
    """``domain``, ``item_id``, ``text`` of the ``wanted`` items (per domain)."""
    parts = [part.filter(pc.is_in(part.column("item_id"), ids)).select(ITEM_COLUMNS)
             for domain, part in by_domain(table) if (ids := wanted.get(domain)) is not None]
    return pa.concat_tables(parts, promote_options="permissive") if parts else empty_items()


# ---------------------------------------------------------------- 5. the task


def sequences(rows: pa.Table, max_users: int) -> dict[str, Any]:
    """The users' last transitions, vectorised over users.

    Args:
        rows: one domain's interactions of the candidate users whose item exists.
        max_users: users kept (the first by user id with two different last items).

    Returns:
        ``query`` and ``target`` item ids (U,), ``history_user`` (H,) the user index of each
        earlier interaction and ``history_item`` its item id.
    """
    users = np.asarray(rows.column("user_id").to_pylist(), dtype=object)
    items = np.asarray(rows.column("item_id").to_pylist(), dtype=object)
    empty = {"query": items[:0], "target": items[:0], "history_user": np.zeros(0, np.int64), "history_item": items[:0]}
    if len(users) == 0:
        return empty
    _, code = np.unique(users, return_inverse=True)  # users in sorted order
    order = np.lexsort((rows.column("timestamp").to_numpy(), code))  # stable: ties keep the file order
    code, items = code[order], items[order]
    end = np.flatnonzero(np.r_[code[1:] != code[:-1], True]) + 1  # one past each user's last row
    start = np.r_[0, end[:-1]]
    ok = (end - start >= 2)
    ok[ok] = items[end[ok] - 1] != items[end[ok] - 2]
    chosen = np.flatnonzero(ok)[:max_users]
    if len(chosen) == 0:
        return empty
    lengths = end[chosen] - 1 - start[chosen]  # rows before the target
    owner = np.repeat(np.arange(len(chosen)), lengths)
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(start[chosen], lengths)
    return {"query": items[end[chosen] - 2], "target": items[end[chosen] - 1],
            "history_user": owner, "history_item": items[pos]}


def pool_index(pool_ids: pa.Array, ids: np.ndarray) -> np.ndarray:
    """(n,) position of each id in the sorted ``pool_ids`` (-1: not in the pool)."""
    where = pc.index_in(pa.array(ids.tolist(), pa.string()), value_set=pool_ids)
    return pc.fill_null(where, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def histories(user: np.ndarray, item: np.ndarray, targets: np.ndarray, n_users: int, n_pool: int) -> list[np.ndarray]:
    """Per user, the sorted distinct pool indices of its earlier items, its target and items
    outside the pool left out."""
    keep = (item >= 0) & (item != targets[user])
    key = np.unique(user[keep] * np.int64(n_pool) + item[keep])
    owner, idx = key // n_pool, key % n_pool
    return np.split(idx.astype(np.int64), np.searchsorted(owner, np.arange(1, n_users)))
