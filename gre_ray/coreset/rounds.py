"""The coreset's rounds as plain functions: the bodies of the tasks the Ray wiring runs.

:mod:`gre_ray.wiring.coreset_data` runs the functions below as Ray tasks over object refs
(the driver holds per-domain counts and refs, never the items, the texts or the vectors).
In the order of the ``coreset`` stage:

1. :func:`domain_counts` (items per domain) and :func:`domain_vectors` (a domain's sorted
   ids and their vectors, a filtered read of ``embeddings``);
2. :func:`validated` checks each items batch of the Ray Data quality pass;
3. :func:`filter_domain` runs the filter chain of :mod:`gre_ray.coreset.filters` over one
   domain (and de-duplicates it with ``dedup_scope: domain``); :func:`drop_rows` and
   :func:`near_global` apply the global de-duplication; :func:`merge_steps` joins the
   per-domain filter logs into the manifest's ``filters``;
4. :func:`points`, :func:`select_one`, :func:`shard_select` and :func:`merge_select` select
   a domain's rows (:mod:`gre_ray.coreset.select`, :mod:`gre_ray.coreset.two_stage`);
5. :func:`write_domain` writes a domain's part of the corpus; :func:`selection_stats` turns
   the rounds' figures into the stage's manifest statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.coreset.budget import Allocation
from gre_ray.coreset.config import CoresetConfig, DedupScope, MissingEmbedding
from gre_ray.data.schema import ITEMS, embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import Location
from gre_ray.errors import DataError

ANNOTATED = ("item_id", "token_count", "text_hash", "distinct_words", "alpha_fraction")


@dataclass
class DomainState:
    """A domain's surviving rows, ordered by item id: ids, text hashes and raw vectors."""

    domain: str
    ids: np.ndarray
    hashes: np.ndarray
    vectors: np.ndarray
    steps: list[dict]


def domain_vectors(items: Location, embeddings: Location, domain: str) -> list[Any]:
    """[info, sorted ids, (n, dim) vectors (zero rows where missing), found mask]."""
    ids = pq.read_table(items.path, filesystem=items.fs, columns=["item_id"], filters=[("domain", "=", domain)])
    ids = ids.column("item_id").combine_chunks()
    if ids.null_count:
        raise DataError(f"{items.uri}: column 'item_id' has {ids.null_count} null value(s) in domain {domain!r}")
    ids = pc.take(ids, pc.sort_indices(ids))
    dup = pc.not_equal(ids[1:], ids[:-1]) if len(ids) > 1 else pa.array([], pa.bool_())
    if len(dup) and not pc.all(dup).as_py():
        first = int(np.flatnonzero(~dup.to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{items.uri}: duplicate key (domain, item_id) = ({domain!r}, {ids[first].as_py()!r}) "
                        "(items contract)")
    dim = embedding_dim(pq.read_schema(embeddings.files()[0].path, filesystem=embeddings.fs), embeddings.uri)
    emb = pq.read_table(embeddings.path, filesystem=embeddings.fs, filters=pc.field("item_id").isin(ids))
    emb = validate_table(emb, embeddings_contract(dim), embeddings.uri)
    row = pc.fill_null(pc.index_in(ids, value_set=emb.column("item_id").combine_chunks()), -1)
    row = row.to_numpy(zero_copy_only=False).astype(np.int64)
    flat = emb.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    table = flat.astype(np.float32, copy=False).reshape(-1, dim)
    vectors = np.zeros((len(ids), dim), dtype=np.float32)
    found = row >= 0
    vectors[found] = table[row[found]]
    missing = int((~found).sum())
    example = ids[int(np.flatnonzero(~found)[0])].as_py() if missing else None
    info = {"items": len(ids), "missing": missing, "example": example, "matched": int(found.sum()), "dim": dim}
    return [info, np.asarray(ids.to_pylist(), dtype=object), vectors, found]


def validated(batch: pa.Table, source: str, domains: list[str]) -> pa.Table:
    """Ray Data map: an items batch checked against the contract, reduced to the rows and columns used."""
    batch = validate_table(batch, ITEMS, source).select(["domain", "item_id", "text"])
    return batch.filter(pc.is_in(batch.column("domain"), value_set=pa.array(domains, pa.string())))


def rows_of(domain: str, blocks: list[pa.Table], columns: tuple[str, ...]) -> pa.Table:
    parts = [b.filter(pc.equal(b.column("domain"), domain)).select(list(columns)) for b in blocks]
    table = pa.concat_tables(parts) if parts else pa.table({c: [] for c in columns})
    return table.sort_by([("item_id", "ascending")])


def filter_domain(domain: str, cfg: CoresetConfig, ids: np.ndarray, vectors: np.ndarray, found: np.ndarray,
                   *blocks: pa.Table) -> DomainState:
    """The row-wise filters (and, with ``dedup_scope: domain``, de-duplication) of one domain."""
    from gre_ray.coreset.dedup import exact_duplicate_keep, near_duplicate_keep, normalize_rows
    from gre_ray.coreset.filters import FilterLog, length_keep, symbols_keep, valid_vectors, words_keep
    from gre_ray.coreset.select import domain_seed

    table = rows_of(domain, list(blocks), ANNOTATED)
    if table.column("item_id").to_pylist() != ids.tolist():
        raise DataError(f"coreset: the items of domain {domain!r} changed while the stage ran")
    q = cfg.quality
    log = FilterLog(np.full(len(ids), domain, dtype=object), [domain])
    log.apply("missing_embedding", found)
    log.apply("invalid_embedding", valid_vectors(vectors[log.rows]))
    col = {c: table.column(c).to_numpy(zero_copy_only=False) for c in ANNOTATED[1:]}
    log.apply("token_length", length_keep(col["token_count"][log.rows], q))
    log.apply("too_few_words", words_keep(col["distinct_words"][log.rows], q))
    log.apply("mostly_symbols", symbols_keep(col["alpha_fraction"][log.rows], q))
    if q.dedup_scope is DedupScope.DOMAIN:
        if q.exact_dedup:
            log.apply("exact_duplicate", exact_duplicate_keep(col["text_hash"][log.rows]))
        if q.near_dup_threshold is not None:
            rows = log.rows
            keep = near_duplicate_keep(normalize_rows(vectors[rows]), q.near_dup_threshold,
                                       seed=domain_seed(cfg.seed, "near_duplicate"))[0]
            log.apply("near_duplicate", keep)
    rows = log.rows
    return DomainState(domain, ids[rows], col["text_hash"][rows], vectors[rows], log.as_dict())


def drop_rows(state: DomainState, name: str, *dropped: np.ndarray) -> DomainState:
    gone = np.zeros(len(state.ids), dtype=bool)
    for d in dropped:
        gone[d] = True
    return after(state, name, ~gone)


def after(state: DomainState, name: str, keep: np.ndarray) -> DomainState:
    n, d = len(state.ids), state.domain
    step = {"filter": name, "before": {d: n}, "removed": {d: int((~keep).sum())}, "after": {d: int(keep.sum())},
            "removed_total": int((~keep).sum())}
    return DomainState(d, state.ids[keep], state.hashes[keep], state.vectors[keep], [*state.steps, step])


def near_global(cfg: CoresetConfig, *states: DomainState) -> list[DomainState]:
    """Near duplicates over every domain's survivors at once, in domain then item-id order."""
    from gre_ray.coreset.dedup import near_duplicate_keep, normalize_rows
    from gre_ray.coreset.select import domain_seed

    x = np.concatenate([s.vectors for s in states]) if states else np.zeros((0, 1), np.float32)
    keep = near_duplicate_keep(normalize_rows(x), cfg.quality.near_dup_threshold,
                               seed=domain_seed(cfg.seed, "near_duplicate"))[0]
    bounds = np.cumsum([0] + [len(s.ids) for s in states])
    out = [after(s, "near_duplicate", keep[a:b]) for s, a, b in zip(states, bounds[:-1], bounds[1:])]
    return out[0] if len(out) == 1 else out  # one return value when there is one domain


def state_sample(state: DomainState, size: int, seed: int) -> np.ndarray:
    """Up to ``size`` normalised survivors of the domain (:func:`gre_ray.coreset.near_cells.sample_rows`)."""
    from gre_ray.coreset.near_cells import sample_rows

    return sample_rows(state.vectors, size, seed)


def state_cells(state: DomainState, offset: int, centroids: np.ndarray, threshold: float) -> Any:
    """The domain's survivors cut into coarse cells (:func:`gre_ray.coreset.near_cells.assign_cells`)."""
    from gre_ray.coreset.near_cells import assign_cells

    return assign_cells(state.vectors, offset, centroids, threshold)


def survivors(state: DomainState) -> tuple[int, list[dict]]:
    return len(state.ids), state.steps


def points(state: DomainState, normalize: bool) -> np.ndarray:
    from gre_ray.coreset.dedup import normalize_rows

    return normalize_rows(state.vectors) if normalize else np.ascontiguousarray(state.vectors)


def select_one(x: np.ndarray, k: int, cfg: Any, seed: int) -> Any:
    from gre_ray.coreset.select import select_domain

    return select_domain(x, k, cfg, seed)


def shard_select(x: np.ndarray, rows: np.ndarray, k: int, cfg: Any, seed: int) -> tuple[np.ndarray, float]:
    from gre_ray.coreset.two_stage import shard_candidates

    return shard_candidates(x, rows, k, factor=cfg.candidate_factor, first=cfg.first_center, seed=seed,
                            chunk_size=cfg.chunk_size, block=cfg.block)


def merge_select(x: np.ndarray, k: int, cfg: Any, seed: int, *parts: tuple[np.ndarray, float]) -> Any:
    from gre_ray.coreset.two_stage import merge_candidates

    sel = merge_candidates(x, [c for c, _ in parts], [r for _, r in parts], k, first=cfg.first_center, seed=seed,
                           chunk_size=cfg.chunk_size, block=cfg.block)
    sel.extra["path"] = "kcenter_two_stage"
    return sel


def write_domain(state: DomainState, sel: Any, out: Location, part: int, *blocks: pa.Table) -> dict:
    """Write the domain's selected rows, in selection order, as ``part-NNNNN.parquet``; returns its stats."""
    from gre_ray.coreset.select import CORPUS, corpus_table

    from gre_ray.coreset.kcenter import Selection

    chosen = state.ids[sel.indices]
    rows = rows_of(state.domain, list(blocks), ("item_id", "text"))
    rows = rows.filter(pc.is_in(rows.column("item_id"), value_set=pa.array(chosen.tolist(), pa.string())))
    text_of = dict(zip(rows.column("item_id").to_pylist(), rows.column("text").to_pylist()))
    ids = np.asarray(chosen, dtype=object)
    texts = np.asarray([text_of[i] for i in chosen], dtype=object)
    local = Selection(np.arange(len(ids)), sel.distances, sel.radius, sel.radius_is_bound, sel.message, sel.extra)
    table = validate_table(corpus_table(state.domain, ids, texts, local), CORPUS, "coreset/corpus")
    out.mkdir()
    pq.write_table(table, (out / f"part-{part:05d}.parquet").path, filesystem=out.fs, compression="zstd")
    return {"selected": int(len(sel.indices)), "covering_radius": sel.radius, "radius_is_bound": sel.radius_is_bound,
            "message": sel.message, "extra": dict(sel.extra)}


def embeddings_without_item(embeddings: Location, matched: int) -> tuple[int, int]:
    """(rows of the embeddings artifact, rows no item of the mined domains matched)."""
    rows = sum(pq.ParquetFile(f.path, filesystem=embeddings.fs).metadata.num_rows for f in embeddings.files())
    return rows, rows - matched


def missing_error(embeddings: Location, infos: dict[str, dict], cfg: CoresetConfig) -> None:
    """Raise the DataError of ``on_missing_embedding: error`` from the per-domain counts."""
    missing = sum(i["missing"] for i in infos.values())
    if missing and cfg.on_missing_embedding is MissingEmbedding.ERROR:
        example = next(i["example"] for i in infos.values() if i["missing"])
        raise DataError(
            f"{embeddings.uri}: {missing} item(s) have no embedding, e.g. {example!r} "
            "(set coreset.on_missing_embedding: exclude to drop them)"
        )


def domain_counts(items: Location) -> dict[str, int]:
    """Items per domain (validated column by column, so the driver never sees the table)."""
    table = pq.read_table(items.path, filesystem=items.fs, columns=["domain"])
    if table.column("domain").null_count:
        raise DataError(f"{items.uri}: column 'domain' has null values (items contract)")
    return {c["values"]: int(c["counts"]) for c in pc.value_counts(table.column("domain")).to_pylist()}


def merge_steps(per_domain: dict[str, list[dict]]) -> list[dict]:
    """The filter log of every domain (:class:`gre_ray.coreset.filters.FilterLog` layout), merged."""
    names = sorted(per_domain)
    steps = []
    for i, first in enumerate(next(iter(per_domain.values()), [])):
        step = {"filter": first["filter"]}
        for key in ("before", "removed", "after"):
            step[key] = {d: per_domain[d][i][key][d] for d in names}
        step["removed_total"] = sum(step["removed"].values())
        steps.append(step)
    return steps


def selection_stats(cfg: CoresetConfig, filters: list[dict], alloc: Allocation, written: dict[str, dict],
                    sizes: dict[str, int]) -> dict[str, Any]:
    """The manifest's figures of a coreset run: filters, budget, selection and covering radius
    per domain, empty domains, and each domain's items, survivors, selected rows and share.

    Args:
        cfg: the coreset settings.
        filters: the merged filter log (:func:`merge_steps`).
        alloc: the budgets (:func:`gre_ray.coreset.budget.allocate`).
        written: per selected domain, the figures :func:`write_domain` returned.
        sizes: rows per domain after the filters.
    """
    total = sum(w["selected"] for w in written.values())
    selection = {
        d: {"method": cfg.selection.method.value, "path": w["extra"].get("path"), "candidates": sizes[d],
            "selected": w["selected"], "covering_radius": w["covering_radius"],
            "radius_is_bound": w["radius_is_bound"], "message": w["message"],
            **{key: v for key, v in w["extra"].items() if key != "path"}}
        for d, w in written.items()
    }
    selected = {d: s["selected"] for d, s in selection.items()}
    return {
        "filters": filters,
        "budget": {"mode": cfg.budget.mode.value, "requested": alloc.requested, "allocated": alloc.total,
                   "available": alloc.available, "counts": alloc.counts, "weights": alloc.weights},
        "selection": selection,
        "covering_radius": {d: s["covering_radius"] for d, s in selection.items()},
        "empty_domains": [d for d, n in alloc.available.items() if n == 0],
        "domain_histogram": {
            d: {"items": filters[0]["before"][d], "after_filters": n, "selected": selected.get(d, 0),
                "share": round(selected.get(d, 0) / max(1, total), 6)}
            for d, n in alloc.available.items()
        },
    }
