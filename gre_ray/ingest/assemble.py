"""Assembling one dataset's tables from its staging folder: the driver's part of ingest.

Reads narrow columns of the staging rows, de-duplicates items, filters interactions
(:mod:`gre_ray.ingest.filters`) and writes ``items``, ``interactions``, ``id_maps`` and
``quarantine`` parts for the dataset, streaming the wide item rows (text, raw JSON) in
batches. It returns the dataset's accounting: for each of interactions and items, every
record read ends as kept, filtered (by named filter) or quarantined (by reason).

Rows set aside after parsing are quarantined with what the staging holds of them: the
parsed row as JSON for an interaction without item metadata, the item's source fields
for a conflicting duplicate.
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
from gre_ray.ingest.published import compare, warnings
from gre_ray.ingest.sources import Dataset
from gre_ray.ingest.staging import IdEncoder, PartWriter, encode_ids, global_lines, line_offsets, order_key, read, scan, staging_paths

DAMAGE = ("truncated_gzip", "corrupt_gzip")  # the file ends early: lines after this one are lost, uncounted
ID_MAPS_SCHEMA = pa.schema(
    [("domain", pa.string()), ("kind", pa.string()), ("raw_id", pa.string()), ("dense_id", pa.int64())]
)
WRITE_ROWS = 1 << 20


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


@dataclass
class _Items:
    """First occurrences of each item id, by order key, and the keys of conflicting duplicates."""

    keys: np.ndarray  # order key of each kept item (sorted)
    ids: pa.Array  # item id of each kept item, aligned with keys
    conflicts: np.ndarray  # order keys of duplicates whose metadata differs


def assemble(staging: Location, dataset: Dataset, outputs: Outputs, strict: bool) -> Assembly:
    """Write ``dataset``'s parts of the four artifacts from ``staging`` and account for every row.

    Raises:
        DataError: in strict mode, at the first row set aside after parsing (a conflicting
            duplicate item, an interaction without item metadata), naming file and line.
    """
    return _Assembler(staging, dataset, outputs, strict).run()


class _Assembler:
    """The state one dataset's assembly shares between its steps."""

    def __init__(self, staging: Location, dataset: Dataset, outputs: Outputs, strict: bool) -> None:
        self.staging, self.dataset, self.outputs, self.strict = staging, dataset, outputs, strict
        self.paths = staging_paths(staging)
        self.summaries = read(staging, self.paths, ["role", "file", "chunk", "line", "n_records", "n_blank"], CHUNK_END)
        self.offsets = line_offsets(self.summaries)
        self.display = pa.array([f.display for f in dataset.files], pa.string())
        self.quarantine = PartWriter(outputs.quarantine / f"{dataset.name}.parquet", QUARANTINE_SCHEMA)
        self.maps = PartWriter(outputs.id_maps / f"{dataset.name}.parquet", ID_MAPS_SCHEMA)
        self.accounts = {role: self._account(role) for role in (INTER_ROLE, ITEM_ROLE)}
        self.item_values = pa.array([], pa.string())  # item ids by code, once interactions are encoded
        self.damaged: list[dict[str, Any]] = []

    def run(self) -> Assembly:
        self._parse_quarantine()
        items = self._dedupe_items() if self.dataset.has_items else None
        result = self._interactions(items) if self.dataset.has_interactions else None
        if items is not None:
            self._write_items(items, result)
        self.quarantine.close()
        self.maps.close()
        return self._assembly(result)

    def _account(self, role: str) -> dict[str, Any]:
        mine = self.summaries.filter(pc.equal(self.summaries.column("role"), role))
        return {
            "records_read": int(pc.sum(mine.column("n_records")).as_py() or 0),
            "blank_lines": int(pc.sum(mine.column("n_blank")).as_py() or 0),
            "parsed": 0,
            "quarantined": Counter(),
            "filtered": {},
            "kept": 0,
        }

    def _quarantine_rows(self, where: pa.Table, lines: np.ndarray, reasons: Any, raw: Any) -> None:
        files = self.display.take(pa.array(where.column("file").to_numpy().astype(np.int64)))
        table = {"file": files, "line": pa.array(lines, pa.int64()), "reason": reasons, "raw": raw}
        self.quarantine.write(pa.table(table, schema=QUARANTINE_SCHEMA))

    def _stop(self, file: int, line: int, reason: str) -> None:
        raise DataError(f"{self.dataset.files[file].display}:{line}: {reason} (ingest.strict is on)")

    def _parse_quarantine(self) -> None:
        """Quarantine the lines the parse tasks set aside, with line numbers within their file."""
        for table in scan(self.staging, self.paths, ["role", "file", "chunk", "line", "reason", "raw"], BAD):
            lines = global_lines(table, self.offsets)
            roles, reasons = table.column("role").to_pylist(), table.column("reason").to_pylist()
            for n, (role, reason) in enumerate(zip(roles, reasons)):
                self.accounts[role]["quarantined"][reason] += 1
                if reason in DAMAGE:
                    file = self.dataset.files[table.column("file")[n].as_py()].display
                    self.damaged.append({"file": file, "line": int(lines[n]), "reason": reason})
            self._quarantine_rows(table, lines, table.column("reason"), table.column("raw"))

    def _dedupe_items(self) -> _Items:
        """Keep each item id's first occurrence; a later one is a plain duplicate or a conflict."""
        table = read(self.staging, self.paths, ["file", "chunk", "line", "item_id", "digest"], ROW, ITEM_ROLE)
        keys = order_key(table)
        order = np.argsort(keys, kind="stable")
        table, keys = table.take(pa.array(order)), keys[order]
        codes, _ = encode_ids(table.column("item_id"))
        _, first = np.unique(codes, return_index=True)
        is_first = np.zeros(len(codes), bool)
        is_first[first] = True
        digests = table.column("digest").to_numpy()
        first_digest = np.zeros(len(first), np.int64)
        first_digest[codes[first]] = digests[first]
        conflict = ~is_first & (digests != first_digest[codes])
        if self.strict and conflict.any():
            row = int(np.flatnonzero(conflict)[0])
            file, chunk, line = (table.column(c)[row].as_py() for c in ("file", "chunk", "line"))
            self._stop(file, self.offsets.get((file, chunk), 0) + line, "duplicate_item_conflict")
        account = self.accounts[ITEM_ROLE]
        account["parsed"] = int(len(codes))
        account["filtered"]["duplicate_item"] = int((~is_first & ~conflict).sum())
        account["quarantined"]["duplicate_item_conflict"] += int(conflict.sum())
        ids = table.column("item_id").combine_chunks().filter(pa.array(is_first))
        return _Items(keys=keys[is_first], ids=ids, conflicts=keys[conflict])

    def _interactions(self, items: _Items | None) -> FilterResult:
        """Encode the interaction rows, filter them, and write the interactions and user/item maps."""
        users, item_codes = IdEncoder(), IdEncoder()
        item_codes.add(items.ids if items is not None else pa.array([], pa.string()))  # codes below n_meta: items with metadata
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "r", "o")}
        columns = ["file", "chunk", "line", "user_id", "item_id", "timestamp", "rating"]
        for table in scan(self.staging, self.paths, columns, ROW, INTER_ROLE):
            users.add(table.column("user_id"))
            item_codes.add(table.column("item_id"))
            parts["t"].append(table.column("timestamp").to_numpy())
            parts["r"].append(table.column("rating").to_numpy(zero_copy_only=False).astype(np.float32))
            parts["o"].append(order_key(table))
        (user_parts, user_values), (item_parts, self.item_values) = users.finish(), item_codes.finish()
        n_meta = len(item_parts[0])
        parts.update(u=user_parts, i=item_parts[1:])
        empty = {"u": np.int32, "i": np.int32, "t": np.int64, "r": np.float32, "o": np.int64}
        u, i, t, r, o = (np.concatenate(parts[k]) if parts[k] else np.empty(0, empty[k]) for k in empty)
        has_item = np.arange(len(self.item_values)) < n_meta if items is not None else None
        result = apply_filters(u, i, t, r, o, has_item, self.dataset.filters)
        account = self.accounts[INTER_ROLE]
        account.update(parsed=int(len(u)), filtered=result.removed, kept=int(len(result.rows)))
        account.update(kept_without_item=result.kept_without_item, kcore_rounds=result.kcore_rounds)
        if result.missing_item is not None and result.missing_item.any():
            missing = np.flatnonzero(result.missing_item)
            missing = missing[np.argsort(o[missing], kind="stable")]
            self._quarantine_missing(missing, user_values, u, i, t, r, o)
            account["quarantined"]["item_without_metadata"] += int(len(missing))
        self._write_interactions(result, user_values, u, i, t, r)
        return result

    def _quarantine_missing(self, rows: np.ndarray, user_values: pa.Array, u, i, t, r, o) -> None:
        keys = o[rows]
        where = pa.table({
            "file": pa.array((keys >> 48).astype(np.int32)),
            "chunk": pa.array(((keys >> 32) & 0xFFFF).astype(np.int32)),
            "line": pa.array((keys & 0xFFFFFFFF).astype(np.int64)),
        })  # fmt: skip
        lines = global_lines(where, self.offsets)
        if self.strict:
            self._stop(int(where.column("file")[0].as_py()), int(lines[0]), "item_without_metadata")
        user_ids = user_values.take(pa.array(u[rows])).to_pylist()
        item_ids = self.item_values.take(pa.array(i[rows])).to_pylist()
        raw = [
            json.dumps({"user_id": a, "item_id": b, "timestamp": int(c), "rating": None if np.isnan(d) else float(d)})
            for a, b, c, d in zip(user_ids, item_ids, t[rows], r[rows])
        ]
        reasons = pa.array(["item_without_metadata"] * len(rows), pa.string())
        self._quarantine_rows(where, lines, reasons, pa.array(raw, pa.string()))

    def _write_interactions(self, result: FilterResult, user_values: pa.Array, u, i, t, r) -> None:
        settings, name = self.dataset.filters, self.dataset.name
        writer = PartWriter(self.outputs.interactions / f"{name}.parquet", INTERACTIONS.schema)
        item_values = self.item_values
        for start in range(0, len(result.rows), WRITE_ROWS):
            rows = result.rows[start : start + WRITE_ROWS]
            if settings.remap_ids:
                user_ids = pa.array(result.user_dense[start : start + WRITE_ROWS].astype(str), pa.string())
                item_ids = pa.array(result.item_dense[start : start + WRITE_ROWS].astype(str), pa.string())
            else:
                user_ids, item_ids = user_values.take(pa.array(u[rows])), item_values.take(pa.array(i[rows]))
            ratings = r[rows]
            implicit = np.isnan(ratings)
            if settings.label_threshold is not None:
                label = pa.array(np.where(implicit, 1, ratings >= settings.label_threshold).astype(np.int8))
            else:
                label = pa.array(np.ones(len(rows), np.int8), mask=~implicit)  # implicit rows are positives
            table = pa.table({
                "domain": pa.array([name] * len(rows), pa.string()),
                "user_id": user_ids,
                "item_id": item_ids,
                "timestamp": pa.array(t[rows], pa.int64()),
                "rating": pa.array(ratings, pa.float32(), mask=implicit),
                "label": label,
            })  # fmt: skip
            writer.write(validate_table(table, INTERACTIONS, f"ingest/{name}/interactions"))
        writer.close()
        self.maps.write(_id_map(name, "user", user_values.take(pa.array(result.user_codes)), np.arange(len(result.user_codes))))
        self.maps.write(_id_map(name, "item", item_values.take(pa.array(result.item_codes)), np.arange(len(result.item_codes))))

    def _write_items(self, items: _Items, result: FilterResult | None) -> None:
        """Stream the kept item rows into the items part.

        Dense item ids: items with kept interactions keep theirs (from the filters); the
        others (policy ``keep``, or a source without interactions) follow in file order.
        """
        keep_keys, ids, account = items.keys, items.ids, self.accounts[ITEM_ROLE]
        dense = np.arange(len(keep_keys), dtype=np.int64)
        if result is not None:
            interacted = self.item_values.take(pa.array(result.item_codes))
            found = pc.index_in(ids, value_set=interacted)
            used = found.is_valid().to_numpy(zero_copy_only=False)
            dense = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            dense[~used] = len(interacted) + np.arange(int((~used).sum()))
            if self.dataset.filters.items_without_interactions is OrphanItemPolicy.DROP:
                account["filtered"]["no_interactions"] = int((~used).sum())
                keep_keys, ids, dense, used = keep_keys[used], ids.filter(pa.array(used)), dense[used], used[used]
            self.maps.write(_id_map(self.dataset.name, "item", ids.filter(pa.array(~used)), dense[~used]))
        else:
            self.maps.write(_id_map(self.dataset.name, "item", ids, dense))
        name = self.dataset.name
        writer = PartWriter(self.outputs.items / f"{name}.parquet", ITEMS.schema)
        columns = ["file", "chunk", "line", "item_id", "title", "text", "raw_json"]
        for table in scan(self.staging, self.paths, columns, ROW, ITEM_ROLE):
            keys = order_key(table)
            conflict = np.isin(keys, items.conflicts)
            if conflict.any():
                bad = table.filter(pa.array(conflict))
                reasons = pa.array(["duplicate_item_conflict"] * bad.num_rows, pa.string())
                self._quarantine_rows(bad, global_lines(bad, self.offsets), reasons, bad.column("raw_json"))
            slot = np.minimum(np.searchsorted(keep_keys, keys), max(len(keep_keys) - 1, 0))
            hit = keep_keys[slot] == keys if len(keep_keys) else np.zeros(len(keys), bool)
            if not hit.any():
                continue
            kept = table.filter(pa.array(hit))
            out_ids = pa.array(dense[slot[hit]].astype(str), pa.string()) if self.dataset.filters.remap_ids else kept.column("item_id")
            out = pa.table({
                "domain": pa.array([name] * kept.num_rows, pa.string()),
                "item_id": out_ids,
                "text": kept.column("text"),
                "title": kept.column("title"),
                "raw_json": kept.column("raw_json"),
            })  # fmt: skip
            writer.write(validate_table(out, ITEMS, f"ingest/{name}/items"))
        writer.close()
        account["kept"] = writer.rows

    def _assembly(self, result: FilterResult | None) -> Assembly:
        accounts, dataset = self.accounts, self.dataset
        n_items = accounts[ITEM_ROLE]["kept"] if dataset.has_items else (len(result.item_codes) if result else 0)
        table1 = {
            "users": int(len(result.user_codes)) if result else 0,
            "items": int(n_items),
            "interactions": int(len(result.rows)) if result else 0,
        }
        if table1["users"] and table1["items"]:
            table1["density"] = round(table1["interactions"] / (table1["users"] * table1["items"]), 8)
        rows = {role: {**a, "quarantined": dict(sorted(a["quarantined"].items()))} for role, a in accounts.items()}
        assembly = Assembly(
            stats={
                "scenario": dataset.scenario.value,
                "role": dataset.role.value,
                "adapter": dataset.adapter.value,
                "files": [f.display for f in dataset.files],
                "releases": {f.display: f.release for f in dataset.files if f.release},
                "table1": table1,
                "rows": {role: a for role, a in rows.items() if a["records_read"] or a["parsed"]},
                "damaged_files": self.damaged,
            }
        )
        if dataset.published:
            check = compare(table1, dataset.published, dataset.tolerance)
            assembly.stats["published"] = check
            assembly.stats["published_warnings"] = warnings(dataset.name, check, assembly.stats)
        for account in accounts.values():
            assembly.quarantined.update(account["quarantined"])
            assembly.rows_in += account["records_read"]
            assembly.rows_out += account["kept"]
        return assembly


def _id_map(domain: str, kind: str, raw_ids: pa.Array, dense: np.ndarray) -> pa.Table:
    n = len(raw_ids)
    columns = {
        "domain": pa.array([domain] * n, pa.string()),
        "kind": pa.array([kind] * n, pa.string()),
        "raw_id": raw_ids,
        "dense_id": pa.array(np.asarray(dense, np.int64)),
    }
    return pa.table(columns, schema=ID_MAPS_SCHEMA)
