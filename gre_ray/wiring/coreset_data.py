"""Coreset selection on Ray Data and Ray tasks: the driver holds per-domain counts and object refs only.

The ``coreset`` stage's Ray wiring, in rounds (the algorithms are the pure :mod:`gre_ray.coreset`):

1. **vectors** (one task per domain): the domain's item ids, sorted, with their vectors
   read from ``embeddings`` (a filtered read, never the whole table in one process);
   duplicate ids and, with ``on_missing_embedding: error``, missing vectors fail here,
   before any text is tokenised;
2. **quality** (Ray Data): items streamed from Parquet, validated per block, annotated by an
   actor pool of :class:`gre_ray.coreset.quality.QualityAnnotator` and kept as blocks in
   the object store;
3. **filters** (one task per domain): the domain's rows, ordered by item id, through the
   filter chain of :mod:`gre_ray.coreset.filters`; exact and near duplicates removed per
   domain, or, with ``dedup_scope: global``, exact duplicates by hash partition (each
   partition task sees every copy of its hashes, in domain then item-id order) and near
   duplicates in one task over the survivors' vectors;
4. **budgets** in the driver, from the per-domain survivor counts;
5. **selection** per domain: k-center greedy, or the two-stage path (shard tasks + merge)
   above ``max_points_per_task``, or k-means medoids;
6. **write** (one task per domain): the selected rows, with their texts from the blocks,
   as one Parquet part per domain, in domain order.

Every step keeps the order and seeds of the former in-driver path, so the corpus is the same
(tests/coreset/test_stage.py compares it with :func:`gre_ray.coreset.select.select_domain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.coreset.config import CoresetConfig, DedupScope, MissingEmbedding, SelectionMethod
from gre_ray.data.schema import ITEMS, embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.pairs.shards import shard_of, string_hash

HASH_SHARDS = 4
_ANNOTATED = ("item_id", "token_count", "text_hash", "distinct_words", "alpha_fraction")


@dataclass
class DomainState:
    """A domain's surviving rows, ordered by item id: ids, text hashes and raw vectors."""

    domain: str
    ids: np.ndarray
    hashes: np.ndarray
    vectors: np.ndarray
    steps: list[dict]


# ---------------------------------------------------------------- 1. vectors per domain


def _domain_vectors(items: Location, embeddings: Location, domain: str) -> list[Any]:
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


# ---------------------------------------------------------------- 2. quality on Ray Data


def _validated(batch: pa.Table, source: str, domains: list[str]) -> pa.Table:
    """Ray Data map: an items batch checked against the contract, reduced to the rows and columns used."""
    batch = validate_table(batch, ITEMS, source).select(["domain", "item_id", "text"])
    return batch.filter(pc.is_in(batch.column("domain"), value_set=pa.array(domains, pa.string())))


def annotated_blocks(items: Location, domains: list[str], cfg: CoresetConfig) -> list[Any]:
    """Object refs of the items of ``domains`` with their quality signals (blocks stay in the object store)."""
    import ray

    from gre_ray.coreset.quality import QualityAnnotator

    ds = ray.data.read_parquet(items.path, filesystem=items.fs)
    ds = ds.map_batches(_validated, fn_args=(items.uri, domains), batch_format="pyarrow", batch_size=None)
    ds = ds.map_batches(
        QualityAnnotator,
        fn_constructor_kwargs={"tokenizer": cfg.quality.tokenizer},
        batch_size=cfg.annotate_batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cfg.annotate_concurrency),
        num_cpus=1,
    )
    return list(ds.materialize().to_arrow_refs())


# ---------------------------------------------------------------- 3. filters


def _rows_of(domain: str, blocks: list[pa.Table], columns: tuple[str, ...]) -> pa.Table:
    parts = [b.filter(pc.equal(b.column("domain"), domain)).select(list(columns)) for b in blocks]
    table = pa.concat_tables(parts) if parts else pa.table({c: [] for c in columns})
    return table.sort_by([("item_id", "ascending")])


def _filter_domain(domain: str, cfg: CoresetConfig, ids: np.ndarray, vectors: np.ndarray, found: np.ndarray,
                   *blocks: pa.Table) -> DomainState:
    """The row-wise filters (and, with ``dedup_scope: domain``, de-duplication) of one domain."""
    from gre_ray.coreset.dedup import exact_duplicate_keep, near_duplicate_keep, normalize_rows
    from gre_ray.coreset.filters import FilterLog, length_keep, symbols_keep, valid_vectors, words_keep
    from gre_ray.coreset.select import domain_seed

    table = _rows_of(domain, list(blocks), _ANNOTATED)
    if table.column("item_id").to_pylist() != ids.tolist():
        raise DataError(f"coreset: the items of domain {domain!r} changed while the stage ran")
    q = cfg.quality
    log = FilterLog(np.full(len(ids), domain, dtype=object), [domain])
    log.apply("missing_embedding", found)
    log.apply("invalid_embedding", valid_vectors(vectors[log.rows]))
    col = {c: table.column(c).to_numpy(zero_copy_only=False) for c in _ANNOTATED[1:]}
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


def _exact_partition(part: int, parts: int, *states: DomainState) -> list[np.ndarray]:
    """Rows (per domain) that repeat the hash of an earlier row, among the hashes of partition ``part``."""
    from gre_ray.coreset.dedup import exact_duplicate_keep

    hashes, owner, rows = [], [], []
    for j, s in enumerate(states):
        mine = np.flatnonzero(shard_of(string_hash(pa.array(s.hashes.tolist(), pa.string())), parts) == part)
        hashes.append(s.hashes[mine])
        owner.append(np.full(len(mine), j))
        rows.append(mine)
    h, o, r = (np.concatenate(x) if x else np.zeros(0) for x in (hashes, owner, rows))
    drop = ~exact_duplicate_keep(h) if len(h) else np.zeros(0, dtype=bool)
    out = [r[drop & (o == j)].astype(np.int64) for j in range(len(states))]
    return out[0] if len(out) == 1 else out  # one return value when there is one domain


def _drop_rows(state: DomainState, name: str, *dropped: np.ndarray) -> DomainState:
    gone = np.zeros(len(state.ids), dtype=bool)
    for d in dropped:
        gone[d] = True
    return _after(state, name, ~gone)


def _after(state: DomainState, name: str, keep: np.ndarray) -> DomainState:
    n, d = len(state.ids), state.domain
    step = {"filter": name, "before": {d: n}, "removed": {d: int((~keep).sum())}, "after": {d: int(keep.sum())},
            "removed_total": int((~keep).sum())}
    return DomainState(d, state.ids[keep], state.hashes[keep], state.vectors[keep], [*state.steps, step])


def _near_global(cfg: CoresetConfig, *states: DomainState) -> list[DomainState]:
    """Near duplicates over every domain's survivors at once, in domain then item-id order."""
    from gre_ray.coreset.dedup import near_duplicate_keep, normalize_rows
    from gre_ray.coreset.select import domain_seed

    x = np.concatenate([s.vectors for s in states]) if states else np.zeros((0, 1), np.float32)
    keep = near_duplicate_keep(normalize_rows(x), cfg.quality.near_dup_threshold,
                               seed=domain_seed(cfg.seed, "near_duplicate"))[0]
    bounds = np.cumsum([0] + [len(s.ids) for s in states])
    out = [_after(s, "near_duplicate", keep[a:b]) for s, a, b in zip(states, bounds[:-1], bounds[1:])]
    return out[0] if len(out) == 1 else out  # one return value when there is one domain


def filtered_states(domains: list[str], vec_refs: list[list[Any]], blocks: list[Any], cfg: CoresetConfig) -> list[Any]:
    """Refs of each domain's :class:`DomainState` after every filter."""
    import ray

    task = ray.remote(num_cpus=1)
    states = [task(_filter_domain).remote(d, cfg, v[1], v[2], v[3], *blocks) for d, v in zip(domains, vec_refs)]
    q = cfg.quality
    if q.dedup_scope is DedupScope.GLOBAL and q.exact_dedup:
        part = task(_exact_partition).options(num_returns=len(domains))
        dropped = [part.remote(p, HASH_SHARDS, *states) for p in range(HASH_SHARDS)]
        dropped = [[x] if len(domains) == 1 else x for x in dropped]
        states = [task(_drop_rows).remote(s, "exact_duplicate", *[dr[j] for dr in dropped])
                  for j, s in enumerate(states)]
    if q.dedup_scope is DedupScope.GLOBAL and q.near_dup_threshold is not None:
        out = task(_near_global).options(num_returns=len(domains)).remote(cfg, *states)
        states = [out] if len(domains) == 1 else list(out)
    return states


def _count(state: DomainState) -> tuple[int, list[dict]]:
    return len(state.ids), state.steps


# ---------------------------------------------------------------- 5. selection


def _points(state: DomainState, normalize: bool) -> np.ndarray:
    from gre_ray.coreset.dedup import normalize_rows

    return normalize_rows(state.vectors) if normalize else np.ascontiguousarray(state.vectors)


def _select_task(x: np.ndarray, k: int, cfg: Any, seed: int) -> Any:
    from gre_ray.coreset.select import select_domain

    return select_domain(x, k, cfg, seed)


def _shard_task(x: np.ndarray, rows: np.ndarray, k: int, cfg: Any, seed: int) -> tuple[np.ndarray, float]:
    from gre_ray.coreset.two_stage import shard_candidates

    return shard_candidates(x, rows, k, factor=cfg.candidate_factor, first=cfg.first_center, seed=seed,
                            chunk_size=cfg.chunk_size, block=cfg.block)


def _merge_task(x: np.ndarray, k: int, cfg: Any, seed: int, *parts: tuple[np.ndarray, float]) -> Any:
    from gre_ray.coreset.two_stage import merge_candidates

    sel = merge_candidates(x, [c for c, _ in parts], [r for _, r in parts], k, first=cfg.first_center, seed=seed,
                           chunk_size=cfg.chunk_size, block=cfg.block)
    sel.extra["path"] = "kcenter_two_stage"
    return sel


def select(states: dict[str, Any], sizes: dict[str, int], counts: dict[str, int], cfg: CoresetConfig) -> dict[str, Any]:
    """Refs of each domain's :class:`gre_ray.coreset.kcenter.Selection` (domains with a budget only)."""
    import ray

    from gre_ray.coreset.select import domain_seed, num_shards
    from gre_ray.coreset.two_stage import shard_rows, shard_seed

    sel_cfg = cfg.selection
    one, shard, merge, points = (ray.remote(num_cpus=1)(f) for f in (_select_task, _shard_task, _merge_task, _points))
    pending = {}
    for d, k in counts.items():
        n = sizes[d]
        if k == 0:
            continue
        x_ref = points.remote(states[d], sel_cfg.normalize)
        seed = domain_seed(cfg.seed, d)
        shards = num_shards(n, sel_cfg)
        if sel_cfg.method is SelectionMethod.KCENTER and shards > 1 and k < n:
            parts = [shard.remote(x_ref, part, k, sel_cfg, shard_seed(seed, i))
                     for i, part in enumerate(shard_rows(n, shards, seed))]
            pending[d] = merge.remote(x_ref, k, sel_cfg, seed, *parts)
        else:
            pending[d] = one.remote(x_ref, k, sel_cfg, seed)
    return pending


# ---------------------------------------------------------------- 6. write


def _write_domain(state: DomainState, sel: Any, out: Location, part: int, *blocks: pa.Table) -> dict:
    """Write the domain's selected rows, in selection order, as ``part-NNNNN.parquet``; returns its stats."""
    from gre_ray.coreset.select import CORPUS, corpus_table

    from gre_ray.coreset.kcenter import Selection

    chosen = state.ids[sel.indices]
    rows = _rows_of(state.domain, list(blocks), ("item_id", "text"))
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


def write_corpus(states: dict[str, Any], selections: dict[str, Any], blocks: list[Any], out: Location) -> dict[str, dict]:
    """Write every selected domain (parts in domain order); returns per-domain selection stats."""
    import ray

    write = ray.remote(num_cpus=1)(_write_domain)
    refs = {d: write.remote(states[d], ref, out, j, *blocks) for j, (d, ref) in enumerate(selections.items())}
    return {d: ray.get(r) for d, r in refs.items()}


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
