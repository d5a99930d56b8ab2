"""Assembling one dataset's tables from its staging folder: the driver's part of ingest.

Reads narrow columns of the staging rows, de-duplicates items, filters interactions
(:mod:`gre_ray.ingest.filters`) and writes ``items``, ``interactions``, ``id_maps`` and
``quarantine`` parts for the dataset, streaming the wide item rows (text, raw JSON) in
batches. It returns the dataset's accounting: for each of interactions and items, every
record read ends as kept, filtered (by named filter) or quarantined (by reason).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.schema import INTERACTIONS, ITEMS, QUARANTINE_SCHEMA, validate_table
from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.ingest.config import OrphanItemPolicy
from gre_ray.ingest.filters import FilterResult, apply_filters
from gre_ray.ingest.parse import BAD, CHUNK_END, INTERACTIONS as INTER_ROLE, ITEMS as ITEM_ROLE, ROW
from gre_ray.ingest.sources import Dataset
from gre_ray.ingest.staging import (
    IdEncoder, PartWriter, global_lines, line_offsets, order_key, read, scan, staging_paths,
)  # fmt: skip

DAMAGE = ("truncated_gzip", "corrupt_gzip")  # the file ends early: lines after this one are lost, uncounted
ID_MAPS_SCHEMA = pa.schema(
    [("domain", pa.string()), ("kind", pa.string()), ("raw_id", pa.string()), ("dense_id", pa.int64())]
)


@dataclass
class Outputs:
    """Folders of the four table artifacts; each dataset writes ``<folder>/<dataset>.parquet``."""

    items: Location
    interactions: Location
    id_maps: Location
    quarantine: Location


@dataclass
class Assembly:
    """What assembling one dataset produced and counted."""

    stats: dict[str, Any]
    quarantined: Counter = field(default_factory=Counter)
    rows_in: int = 0
    rows_out: int = 0


def assemble(staging: Location, dataset: Dataset, outputs: Outputs, strict: bool) -> Assembly:
    """Write ``dataset``'s parts of the four artifacts from ``staging`` and account for every row.

    Raises:
        DataError: in strict mode, at the first row set aside after parsing (a conflicting
            duplicate item, an interaction without item metadata), naming file and line.
    """
    paths = staging_paths(staging)
    summaries = read(staging, paths, ["role", "file", "chunk", "line", "n_records", "n_blank"], CHUNK_END)
    offsets = line_offsets(summaries)
    display = pa.array([f.display for f in dataset.files], pa.string())
    quarantine = PartWriter(outputs.quarantine / f"{dataset.name}.parquet", QUARANTINE_SCHEMA)
    maps = PartWriter(outputs.id_maps / f"{dataset.name}.parquet", ID_MAPS_SCHEMA)
    accounts = {role: _account(summaries, role) for role in (INTER_ROLE, ITEM_ROLE)}

    damaged = []
    bad_columns = ["role", "file", "chunk", "line", "reason", "raw"]
    for table in scan(staging, paths, bad_columns, BAD):
        lines = global_lines(table, offsets)
        for n, (role, reason) in enumerate(zip(table.column("role").to_pylist(), table.column("reason").to_pylist())):
            accounts[role]["quarantined"][reason] += 1
            if reason in DAMAGE:
                damaged.append({"file": dataset.files[table.column("file")[n].as_py()].display, "line": int(lines[n]), "reason": reason})
        quarantine.write(_quarantine_rows(table, display, lines, table.column("reason"), table.column("raw")))

    items = _dedupe_items(staging, paths, dataset, offsets, accounts[ITEM_ROLE], strict) if dataset.has_items else None
    result = None
    item_codes = IdEncoder()
    if dataset.has_interactions:
        result = _interactions(staging, paths, dataset, offsets, display, items, item_codes, quarantine, maps, outputs, accounts[INTER_ROLE], strict)
    if items is not None:
        _write_items(staging, paths, dataset, items, result, item_codes, display, offsets, quarantine, maps, outputs, accounts[ITEM_ROLE])
    quarantine.close()
    maps.close()

    n_items = accounts[ITEM_ROLE]["kept"] if dataset.has_items else (len(result.item_codes) if result else 0)
    table1 = {
        "users": int(len(result.user_codes)) if result else 0,
        "items": int(n_items),
        "interactions": int(len(result.rows)) if result else 0,
    }
    if table1["users"] and table1["items"]:
        table1["density"] = round(table1["interactions"] / (table1["users"] * table1["items"]), 8)
    assembly = Assembly(
        stats={
            "scenario": dataset.scenario.value,
            "role": dataset.role.value,
            "adapter": dataset.adapter.value,
            "files": [f.display for f in dataset.files],
            "table1": table1,
            "rows": {role: _plain(a) for role, a in accounts.items() if a["records_read"] or a["parsed"]},
            "damaged_files": damaged,
        }
    )
    for account in accounts.values():
        assembly.quarantined.update(account["quarantined"])
        assembly.rows_in += account["records_read"]
        assembly.rows_out += account["kept"]
    return assembly


def _account(summaries: pa.Table, role: str) -> dict[str, Any]:
    mine = summaries.filter(pc.field("role") == role)
    return {
        "records_read": int(pc.sum(mine.column("n_records")).as_py() or 0),
        "blank_lines": int(pc.sum(mine.column("n_blank")).as_py() or 0),
        "parsed": 0,
        "quarantined": Counter(),
        "filtered": {},
        "kept": 0,
    }


def _plain(account: dict[str, Any]) -> dict[str, Any]:
    return {**account, "quarantined": dict(sorted(account["quarantined"].items()))}


def _quarantine_rows(table: pa.Table, display: pa.Array, lines: np.ndarray, reasons: Any, raw: Any) -> pa.Table:
    files = display.take(pa.array(table.column("file").to_numpy().astype(np.int64)))
    return pa.table({"file": files, "line": pa.array(lines, pa.int64()), "reason": reasons, "raw": raw}, schema=QUARANTINE_SCHEMA)


def _strict_stop(dataset: Dataset, file: int, line: int, reason: str) -> None:
    raise DataError(f"{dataset.files[file].display}:{line}: {reason} (ingest.strict is on)")


@dataclass
class _Items:
    """First occurrences of each item id, by order key, and the keys of conflicting duplicates."""

    keys: np.ndarray  # order key of each kept item (sorted)
    ids: pa.Array  # item id of each kept item, aligned with keys
    conflicts: np.ndarray  # order keys of duplicates whose metadata differs (sorted)


def _dedupe_items(staging: Location, paths: list[str], dataset: Dataset, offsets: dict, account: dict, strict: bool) -> _Items:
    table = read(staging, paths, ["file", "chunk", "line", "item_id", "digest"], ROW, ITEM_ROLE)
    keys = order_key(table)
    order = np.argsort(keys, kind="stable")
    table, keys = table.take(pa.array(order)), keys[order]
    codes = IdEncoder().encode(table.column("item_id"))
    _, first = np.unique(codes, return_index=True)
    is_first = np.zeros(len(codes), bool)
    is_first[first] = True
    digests = table.column("digest").to_numpy()
    first_digest = np.empty(int(codes.max()) + 1 if len(codes) else 0, np.int64)
    first_digest[codes[first]] = digests[first]
    conflict = ~is_first & (digests != first_digest[codes])
    if strict and conflict.any():
        row = int(np.flatnonzero(conflict)[0])
        file, chunk, line = (table.column(c)[row].as_py() for c in ("file", "chunk", "line"))
        _strict_stop(dataset, file, offsets.get((file, chunk), 0) + line, "duplicate_item_conflict")
    account["parsed"] = int(len(codes))
    account["filtered"]["duplicate_item"] = int((~is_first & ~conflict).sum())
    account["quarantined"]["duplicate_item_conflict"] += int(conflict.sum())
    return _Items(keys=keys[is_first], ids=table.column("item_id").combine_chunks().filter(pa.array(is_first)), conflicts=keys[conflict])


def _interactions(staging, paths, dataset, offsets, display, items, item_codes, quarantine, maps, outputs, account, strict) -> FilterResult:
    has_item = None
    if items is not None:
        item_codes.encode(items.ids)
    n_meta = len(item_codes)
    users = IdEncoder()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("u", "i", "t", "r", "o")}
    columns = ["file", "chunk", "line", "user_id", "item_id", "timestamp", "rating"]
    for table in scan(staging, paths, columns, ROW, INTER_ROLE):
        parts["u"].append(users.encode(table.column("user_id")))
        parts["i"].append(item_codes.encode(table.column("item_id")))
        parts["t"].append(table.column("timestamp").to_numpy())
        parts["r"].append(table.column("rating").to_numpy(zero_copy_only=False).astype(np.float32))
        parts["o"].append(order_key(table))
    u, i, t, r, o = (np.concatenate(parts[k]) if parts[k] else np.empty(0, np.int64) for k in ("u", "i", "t", "r", "o"))
    if items is not None:
        has_item = np.arange(len(item_codes)) < n_meta
    settings = dataset.filters
    result = apply_filters(u.astype(np.int64), i.astype(np.int64), t, r.astype(np.float64), o, has_item, settings)
    account["parsed"] = int(len(u))
    account["filtered"] = result.removed
    account["kept"] = int(len(result.rows))
    account["kept_without_item"] = result.kept_without_item
    account["kcore_rounds"] = result.kcore_rounds
    if result.missing_item is not None and result.missing_item.any():
        missing = np.flatnonzero(result.missing_item)
        missing = missing[np.argsort(o[missing], kind="stable")]
        _quarantine_missing(missing, u, i, t, r, o, users, item_codes, offsets, display, quarantine, dataset, strict)
        account["quarantined"]["item_without_metadata"] += int(len(missing))
    _write_interactions(result, u, i, t, r, users, item_codes, dataset, outputs, maps)
    return result


def _unpack(keys: np.ndarray) -> pa.Table:
    return pa.table({
        "file": pa.array((keys >> 48).astype(np.int32)),
        "chunk": pa.array(((keys >> 32) & 0xFFFF).astype(np.int32)),
        "line": pa.array((keys & 0xFFFFFFFF).astype(np.int64)),
    })  # fmt: skip


def _quarantine_missing(rows, u, i, t, r, o, users, item_codes, offsets, display, quarantine, dataset, strict) -> None:
    where = _unpack(o[rows])
    lines = global_lines(where, offsets)
    if strict:
        _strict_stop(dataset, int(where.column("file")[0].as_py()), int(lines[0]), "item_without_metadata")
    user_ids, item_ids = users.values().take(pa.array(u[rows])), item_codes.values().take(pa.array(i[rows]))
    raw = [
        json.dumps({"user_id": a, "item_id": b, "timestamp": int(c), "rating": None if np.isnan(d) else float(d)})
        for a, b, c, d in zip(user_ids.to_pylist(), item_ids.to_pylist(), t[rows], r[rows])
    ]
    reasons = pa.array(["item_without_metadata"] * len(rows), pa.string())
    quarantine.write(_quarantine_rows(where, display, lines, reasons, pa.array(raw, pa.string())))


def _write_interactions(result: FilterResult, u, i, t, r, users: IdEncoder, item_codes: IdEncoder, dataset: Dataset, outputs: Outputs, maps: PartWriter) -> None:
    settings = dataset.filters
    writer = PartWriter(outputs.interactions / f"{dataset.name}.parquet", INTERACTIONS.schema)
    user_values, item_values = users.values(), item_codes.values()
    step = 1 << 20
    for start in range(0, len(result.rows), step):
        rows = result.rows[start : start + step]
        if settings.remap_ids:
            user_ids = pa.array(result.user_dense[start : start + step].astype(str), pa.string())
            item_ids = pa.array(result.item_dense[start : start + step].astype(str), pa.string())
        else:
            user_ids, item_ids = user_values.take(pa.array(u[rows])), item_values.take(pa.array(i[rows]))
        ratings = r[rows]
        implicit = np.isnan(ratings)
        if settings.label_threshold is not None:
            label = pa.array(np.where(implicit, 1, ratings >= settings.label_threshold).astype(np.int8))
        else:
            label = pa.array(np.ones(len(rows), np.int8), mask=~implicit)
        table = pa.table({
            "domain": pa.array([dataset.name] * len(rows), pa.string()),
            "user_id": user_ids,
            "item_id": item_ids,
            "timestamp": pa.array(t[rows], pa.int64()),
            "rating": pa.array(ratings, pa.float32(), mask=implicit),
            "label": label,
        })  # fmt: skip
        writer.write(validate_table(table, INTERACTIONS, f"ingest/{dataset.name}/interactions"))
    writer.close()
    for kind, values, codes in (("user", user_values, result.user_codes), ("item", item_values, result.item_codes)):
        maps.write(_id_map(dataset.name, kind, values.take(pa.array(codes.astype(np.int64))), np.arange(len(codes))))


def _id_map(domain: str, kind: str, raw_ids: pa.Array, dense: np.ndarray) -> pa.Table:
    n = len(raw_ids)
    return pa.table({
        "domain": pa.array([domain] * n, pa.string()),
        "kind": pa.array([kind] * n, pa.string()),
        "raw_id": raw_ids,
        "dense_id": pa.array(dense.astype(np.int64)),
    }, schema=ID_MAPS_SCHEMA)  # fmt: skip


def _write_items(staging, paths, dataset, items: _Items, result, item_codes, display, offsets, quarantine, maps, outputs, account) -> None:
    """Stream the kept item rows into the items part.

    Dense item ids: items with kept interactions keep theirs (from the filters); the
    others (policy ``keep``, or a source without interactions) follow in file order.
    """
    keep_keys, ids = items.keys, items.ids
    dense = np.arange(len(keep_keys), dtype=np.int64)
    if result is not None:
        interacted = item_codes.values().take(pa.array(result.item_codes.astype(np.int64)))
        found = pc.index_in(ids, value_set=interacted)
        used = found.is_valid().to_numpy(zero_copy_only=False)
        dense = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        dense[~used] = len(interacted) + np.arange(int((~used).sum()))
        if dataset.filters.items_without_interactions is OrphanItemPolicy.DROP:
            account["filtered"]["no_interactions"] = int((~used).sum())
            keep_keys, ids, dense, used = keep_keys[used], ids.filter(pa.array(used)), dense[used], used[used]
        orphans = ~used
        maps.write(_id_map(dataset.name, "item", ids.filter(pa.array(orphans)), dense[orphans]))
    else:
        maps.write(_id_map(dataset.name, "item", ids, dense))
    writer = PartWriter(outputs.items / f"{dataset.name}.parquet", ITEMS.schema)
    columns = ["file", "chunk", "line", "item_id", "title", "text", "raw_json"]
    for table in scan(staging, paths, columns, ROW, ITEM_ROLE):
        keys = order_key(table)
        slot = np.searchsorted(keep_keys, keys)
        hit = (slot < len(keep_keys)) & (keep_keys[np.minimum(slot, len(keep_keys) - 1)] == keys) if len(keep_keys) else np.zeros(len(keys), bool)
        conflict = np.isin(keys, items.conflicts) if len(items.conflicts) else np.zeros(len(keys), bool)
        if conflict.any():
            bad = table.filter(pa.array(conflict))
            reasons = pa.array(["duplicate_item_conflict"] * bad.num_rows, pa.string())
            quarantine.write(_quarantine_rows(bad, display, global_lines(bad, offsets), reasons, bad.column("raw_json")))
        if not hit.any():
            continue
        kept = table.filter(pa.array(hit))
        out_ids = kept.column("item_id")
        if dataset.filters.remap_ids:
            out_ids = pa.array(dense[slot[hit]].astype(str), pa.string())
        out = pa.table({
            "domain": pa.array([dataset.name] * kept.num_rows, pa.string()),
            "item_id": out_ids,
            "text": kept.column("text"),
            "title": kept.column("title"),
            "raw_json": kept.column("raw_json"),
        })  # fmt: skip
        writer.write(validate_table(out, ITEMS, f"ingest/{dataset.name}/items"))
    writer.close()
    account["kept"] = writer.rows
