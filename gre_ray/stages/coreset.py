"""Stage ``coreset``: a high-quality, domain-balanced, diverse subset of the item texts.

Reads ``items`` and ``embeddings``; writes ``corpus`` (``domain``, ``item_id``, ``text``,
``selection_order``, ``distance_at_selection``; :data:`gre_ray.coreset.select.CORPUS_SCHEMA`)
for MLM pre-training. Steps (the algorithms are in :mod:`gre_ray.coreset`):

1. Quality signals per text on Ray Data (an actor pool of :class:`QualityAnnotator`, one
   tokenizer per actor): token count, normalised-text hash, distinct words, letter share.
2. Filters in the driver, counted by domain (:mod:`gre_ray.coreset.filters`); near
   duplicates in Ray tasks (one per domain, or one for all with ``dedup_scope: global``).
3. Budgets by water-filling (:func:`gre_ray.coreset.budget.allocate`).
4. Selection per domain in parallel Ray tasks; a k-center domain above
   ``max_points_per_task`` runs as shard tasks plus one merge task (two-stage path).

Bad input: items without an embedding are excluded and counted as quarantined
``missing_embedding`` (or raise a DataError with ``on_missing_embedding: error``); a
non-finite or zero vector is quarantined ``invalid_embedding``; a budget above what survives,
or a domain left empty, is a warning in the manifest, and everything available is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gre_ray.coreset.config import CoresetConfig, DedupScope, MissingEmbedding, SelectionMethod
from gre_ray.data.schema import ITEMS, embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import Location, fingerprint_files, read_table, write_table
from gre_ray.errors import DataError
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                    "tokenizer_config.json", "special_tokens_map.json")


def _annotate(items: pa.Table, cfg: CoresetConfig) -> pa.Table:
    """Items (domain, item_id, text) plus the quality signals, computed on Ray Data."""
    import ray

    from gre_ray.coreset.quality import QualityAnnotator

    table = items.select(["domain", "item_id", "text"])
    step = cfg.annotate_batch_size
    blocks = [table.slice(a, step) for a in range(0, table.num_rows, step)] or [table]
    ds = ray.data.from_arrow(blocks).map_batches(
        QualityAnnotator,
        fn_constructor_kwargs={"tokenizer": cfg.quality.tokenizer},
        batch_size=step,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cfg.annotate_concurrency),
        num_cpus=1,
    )
    out = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    return out.sort_by([("domain", "ascending"), ("item_id", "ascending")])


def _train_domains(ctx: StageContext, items: pa.Table, cfg: CoresetConfig) -> pa.Table:
    """Items of the domains whose role is ``train`` (all items when not asked or not known)."""
    import pyarrow.compute as pc

    if not cfg.train_domains_only:
        return items
    if not ctx.has_input("domains"):
        ctx.warn("coreset: train_domains_only is set but no stage provides 'domains'; using every domain")
        return items
    table = read_table(ctx.input("domains"), columns=["domain", "role"])
    roles = dict(zip(table.column("domain").to_pylist(), table.column("role").to_pylist()))
    present = sorted(set(items.column("domain").to_pylist()))
    ctx.stats["skipped_domains"] = {d: roles.get(d, "unknown") for d in present if roles.get(d) != "train"}
    return items.filter(pc.is_in(items.column("domain"), pa.array([d for d in present if roles.get(d) == "train"],
                                                                    pa.string())))


def _read_embeddings(loc: Location) -> tuple[np.ndarray, np.ndarray]:
    """(item ids (m,), vectors (m, d) float32) of the embeddings artifact, validated."""
    raw = read_table(loc)
    dim = embedding_dim(raw.schema, loc.uri)
    table = validate_table(raw, embeddings_contract(dim), loc.uri)
    column = table.column("embedding").combine_chunks()
    vectors = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
    return np.asarray(table.column("item_id").to_pylist(), dtype=object), vectors


def _near_dup_task(x: np.ndarray, threshold: float, seed: int) -> np.ndarray:
    from gre_ray.coreset.dedup import near_duplicate_keep

    return near_duplicate_keep(x, threshold, seed=seed)[0]


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


def _filter(ctx: StageContext, table: pa.Table, emb_row: np.ndarray, vectors: np.ndarray,
            cfg: CoresetConfig) -> Any:
    """Run the filter chain of :mod:`gre_ray.coreset.filters`; returns the FilterLog."""
    import ray

    from gre_ray.coreset.dedup import exact_duplicate_keep, normalize_rows
    from gre_ray.coreset.filters import FilterLog, length_keep, symbols_keep, valid_vectors, words_keep
    from gre_ray.coreset.select import domain_seed

    q = cfg.quality
    domains = np.asarray(table.column("domain").to_pylist(), dtype=object)
    names = sorted(set(domains.tolist()))
    log = FilterLog(domains, names)
    missing = int((emb_row < 0).sum())
    if missing:
        ctx.warn(f"coreset: {missing} item(s) have no embedding; excluded (quarantined as missing_embedding)")
    ctx.quarantine("missing_embedding", log.apply("missing_embedding", emb_row >= 0))
    ctx.quarantine("invalid_embedding", log.apply("invalid_embedding", valid_vectors(vectors[emb_row[log.rows]])))
    col = {c: table.column(c).to_numpy() for c in ("token_count", "distinct_words", "alpha_fraction", "text_hash")}
    log.apply("token_length", length_keep(col["token_count"][log.rows], q))
    log.apply("too_few_words", words_keep(col["distinct_words"][log.rows], q))
    log.apply("mostly_symbols", symbols_keep(col["alpha_fraction"][log.rows], q))
    by_domain = q.dedup_scope is DedupScope.DOMAIN
    if q.exact_dedup:
        rows = log.rows
        log.apply("exact_duplicate", exact_duplicate_keep(col["text_hash"][rows], domains[rows] if by_domain else None))
    if q.near_dup_threshold is not None:
        rows = log.rows
        groups = [rows[domains[rows] == d] for d in names] if by_domain else [rows]
        task = ray.remote(num_cpus=1)(_near_dup_task)
        seed = domain_seed(cfg.seed, "near_duplicate")
        masks = ray.get([task.remote(normalize_rows(vectors[emb_row[g]]), q.near_dup_threshold, seed) for g in groups])
        keep = np.ones(len(domains), dtype=bool)
        for g, m in zip(groups, masks):
            keep[g] = m
        log.apply("near_duplicate", keep[rows])
    return log


def _select(table: pa.Table, log: Any, emb_row: np.ndarray, vectors: np.ndarray, counts: dict[str, int],
            cfg: CoresetConfig) -> tuple[list[pa.Table], dict[str, dict]]:
    """Selection per domain in parallel Ray tasks; returns corpus parts and per-domain stats."""
    import ray

    from gre_ray.coreset.dedup import normalize_rows
    from gre_ray.coreset.select import corpus_table, domain_seed, num_shards
    from gre_ray.coreset.two_stage import shard_rows, shard_seed

    sel_cfg = cfg.selection
    select, shard, merge = (ray.remote(num_cpus=1)(f) for f in (_select_task, _shard_task, _merge_task))
    domains = log.domains
    pending: dict[str, tuple[np.ndarray, Any]] = {}
    for d, k in counts.items():
        rows = log.rows[domains[log.rows] == d]  # (n_d,) ordered by item_id
        if k == 0:
            continue
        x = vectors[emb_row[rows]]
        x_ref = ray.put(normalize_rows(x) if sel_cfg.normalize else np.ascontiguousarray(x))
        seed = domain_seed(cfg.seed, d)
        shards = num_shards(len(rows), sel_cfg)
        if sel_cfg.method is SelectionMethod.KCENTER and shards > 1 and k < len(rows):
            parts = [shard.remote(x_ref, part, k, sel_cfg, shard_seed(seed, i))
                     for i, part in enumerate(shard_rows(len(rows), shards, seed))]
            pending[d] = (rows, merge.remote(x_ref, k, sel_cfg, seed, *parts))
        else:
            pending[d] = (rows, select.remote(x_ref, k, sel_cfg, seed))

    item_ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
    texts = np.asarray(table.column("text").to_pylist(), dtype=object)
    parts_out, stats = [], {}
    for d, (rows, ref) in pending.items():
        sel = ray.get(ref)
        parts_out.append(corpus_table(d, item_ids[rows], texts[rows], sel))
        stats[d] = {
            "method": sel_cfg.method.value, "path": sel.extra.get("path"), "candidates": int(len(rows)),
            "selected": int(len(sel.indices)), "covering_radius": sel.radius, "radius_is_bound": sel.radius_is_bound,
            "message": sel.message, **{key: v for key, v in sel.extra.items() if key != "path"},
        }
    return parts_out, stats


@register
class CoresetStage(Stage):
    name = "coreset"
    provides = ("corpus",)
    requires = ("items", "embeddings")
    optional = ("domains",)
    uses_ray = True
    speed_settings = ("annotate_batch_size", "annotate_concurrency", "selection.chunk_size")

    def external_inputs(self, config: Any) -> dict[str, str]:
        from gre_ray.coreset.quality import resolve_tokenizer

        name = resolve_tokenizer(config.coreset.quality.tokenizer)
        if not Path(name).is_dir():
            return {"tokenizer": name}
        parts = [fingerprint_files(Location.of(Path(name) / f), content=True)
                 for f in _TOKENIZER_FILES if (Path(name) / f).is_file()]
        return {"tokenizer": "-".join(parts) or name}

    def run(self, ctx: StageContext) -> None:
        import pandas as pd

        from gre_ray.coreset.budget import allocate
        from gre_ray.coreset.select import CORPUS

        cfg: CoresetConfig = ctx.settings
        items = read_table(ctx.input("items"), ITEMS)
        ctx.count(rows_in=items.num_rows)
        items = _train_domains(ctx, items, cfg)
        if items.num_rows == 0:
            raise DataError(f"{ctx.input('items').uri}: no items to select a coreset from"
                            f"{' in train domains' if cfg.train_domains_only and ctx.has_input('domains') else ''}")
        emb_ids, vectors = _read_embeddings(ctx.input("embeddings"))
        missing = pd.Index(emb_ids).get_indexer(items.column("item_id").to_pylist()) < 0  # checked before Ray Data
        if missing.any() and cfg.on_missing_embedding is MissingEmbedding.ERROR:
            raise DataError(
                f"{ctx.input('embeddings').uri}: {int(missing.sum())} item(s) have no embedding, e.g. "
                f"{items.column('item_id')[int(np.flatnonzero(missing)[0])].as_py()!r} "
                "(set coreset.on_missing_embedding: exclude to drop them)"
            )
        table = _annotate(items, cfg)
        item_ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
        emb_row = pd.Index(emb_ids).get_indexer(item_ids)  # (n,) row of each item's vector, -1 if none
        log = _filter(ctx, table, emb_row, vectors, cfg)

        alloc = allocate(log.counts(), cfg.budget.total, mode=cfg.budget.mode, alpha=cfg.budget.alpha,
                         min_per_domain=cfg.budget.min_per_domain, max_per_domain=cfg.budget.max_per_domain)
        for note in alloc.notes:
            ctx.warn(f"coreset: {note}")
        parts, selection = _select(table, log, emb_row, vectors, alloc.counts, cfg)
        corpus = validate_table(pa.concat_tables(parts) if parts else CORPUS.schema.empty_table(), CORPUS,
                                "coreset/corpus")
        write_table(corpus, ctx.out("corpus"))
        ctx.count(rows_out=corpus.num_rows)

        selected = {d: s["selected"] for d, s in selection.items()}
        ctx.stats["filters"] = log.as_dict()
        ctx.stats["budget"] = {"mode": cfg.budget.mode.value, "requested": alloc.requested, "allocated": alloc.total,
                               "available": alloc.available, "counts": alloc.counts, "weights": alloc.weights}
        ctx.stats["selection"] = selection
        ctx.stats["covering_radius"] = {d: s["covering_radius"] for d, s in selection.items()}
        ctx.stats["empty_domains"] = [d for d, n in alloc.available.items() if n == 0]
        ctx.stats["domain_histogram"] = {
            d: {"items": log.steps[0].before[d], "after_filters": n, "selected": selected.get(d, 0),
                "share": round(selected.get(d, 0) / max(1, corpus.num_rows), 6)}
            for d, n in alloc.available.items()
        }
        ctx.stats["embeddings"] = {
            "rows": len(emb_ids), "dim": int(vectors.shape[1]), "items_without_embedding": int((emb_row < 0).sum()),
            "embeddings_without_item": int((~pd.Index(emb_ids).isin(item_ids)).sum()),
        }

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        lines = [f"{'domain':<14} {'items':>8} {'filtered':>9} {'selected':>9} {'share':>7} {'radius':>8}"]
        for d, h in stats.get("domain_histogram", {}).items():
            radius = stats.get("covering_radius", {}).get(d)
            lines.append(f"{d:<14} {h['items']:>8,} {h['after_filters']:>9,} {h['selected']:>9,} {h['share']:>7.1%} "
                         f"{'-' if radius is None else format(radius, '.3f'):>8}")
        for f in stats.get("filters", []):
            if f["removed_total"]:
                lines.append(f"filter {f['filter']}: removed {f['removed_total']:,}")
        lines.extend(f"warning: {w}" for w in manifest.get("warnings", []))
        return lines
