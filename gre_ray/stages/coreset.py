"""Stage ``coreset``: a high-quality, domain-balanced, diverse subset of the item texts.

Reads ``items`` and ``embeddings``; writes ``corpus`` (``domain``, ``item_id``, ``text``,
``selection_order``, ``distance_at_selection``; :data:`gre_ray.coreset.select.CORPUS_SCHEMA`)
for MLM pre-training. The rounds run on Ray Data and Ray tasks
(:mod:`gre_ray.wiring.coreset_data`, over the plain functions of :mod:`gre_ray.coreset.rounds`);
the driver holds per-domain counts and object refs, never the items, the texts or the vectors:

1. per domain, its sorted ids and their vectors (a filtered read of ``embeddings``);
2. quality signals per text on Ray Data (an actor pool of :class:`QualityAnnotator`, one
   tokenizer per actor): token count, normalised-text hash, distinct words, letter share;
3. filters per domain, counted by domain (:mod:`gre_ray.coreset.filters`); exact duplicates
   by hash partition and near duplicates in one task with ``dedup_scope: global`` (in
   coarse cells, one task each, above ``quality.dedup_rows_per_task`` survivors; per
   domain with ``dedup_scope: domain``);
4. budgets by water-filling (:func:`gre_ray.coreset.budget.allocate`) in the driver;
5. selection per domain in parallel Ray tasks; a k-center domain above
   ``max_points_per_task`` runs as shard tasks plus one merge task (two-stage path);
6. one Parquet part per domain, written by a task.

Bad input: items without an embedding are excluded and counted as quarantined
``missing_embedding`` (or raise a DataError with ``on_missing_embedding: error``, before any
text is tokenised); a non-finite or zero vector is quarantined ``invalid_embedding``; a
budget above what survives, or a domain left empty, is a warning in the manifest, and
everything available is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gre_ray.coreset.config import CoresetConfig
from gre_ray.data.schema import ITEMS, validate_table
from gre_ray.data.storage import Location, fingerprint_files
from gre_ray.errors import DataError
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.domains import choose_train_domains

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                    "tokenizer_config.json", "special_tokens_map.json")


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
        from gre_ray.coreset.budget import allocate
        from gre_ray.coreset.rounds import embeddings_without_item, merge_steps, missing_error, selection_stats
        from gre_ray.coreset.select import CORPUS
        from gre_ray.wiring import coreset_data as cd

        cfg: CoresetConfig = ctx.settings
        items_loc, emb_loc = ctx.input("items"), ctx.input("embeddings")
        validate_table(pq.read_schema(items_loc.files()[0].path, filesystem=items_loc.fs).empty_table(), ITEMS,
                       items_loc.uri)
        present = cd.domain_counts(items_loc)
        ctx.count(rows_in=sum(present.values()))
        domains = choose_train_domains(ctx, sorted(present), cfg.train_domains_only, "coreset")
        if not domains:
            raise DataError(f"{items_loc.uri}: no items to select a coreset from"
                            f"{' in train domains' if cfg.train_domains_only and ctx.has_input('domains') else ''}")
        vec_refs, infos = cd.domain_vectors(items_loc, emb_loc, domains)
        missing_error(emb_loc, infos, cfg)
        missing = sum(i["missing"] for i in infos.values())
        if missing:
            ctx.warn(f"coreset: {missing} item(s) have no embedding; excluded (quarantined as missing_embedding)")

        blocks = cd.annotated_blocks(items_loc, domains, cfg)
        states = dict(zip(domains, cd.filtered_states(domains, vec_refs, blocks, cfg)))
        counted = cd.survivors(states)
        sizes = {d: n for d, (n, _) in counted.items()}
        filters = merge_steps({d: steps for d, (_, steps) in counted.items()})
        for f in filters[:2]:
            ctx.quarantine(f["filter"], f["removed_total"])

        alloc = allocate(sizes, cfg.budget.total, mode=cfg.budget.mode, alpha=cfg.budget.alpha,
                         min_per_domain=cfg.budget.min_per_domain, max_per_domain=cfg.budget.max_per_domain)
        for note in alloc.notes:
            ctx.warn(f"coreset: {note}")
        pending = cd.select(states, sizes, alloc.counts, cfg)
        out = ctx.out("corpus")
        written = cd.write_corpus(states, pending, blocks, out)
        if not written:
            out.mkdir()
            pq.write_table(CORPUS.schema.empty_table(), (out / "part-00000.parquet").path, filesystem=out.fs)
        ctx.count(rows_out=sum(w["selected"] for w in written.values()))
        ctx.stats.update(selection_stats(cfg, filters, alloc, written, sizes))
        rows, unmatched = embeddings_without_item(emb_loc, sum(i["matched"] for i in infos.values()))
        ctx.stats["embeddings"] = {"rows": rows, "dim": next(iter(infos.values()))["dim"],
                                   "items_without_embedding": missing, "embeddings_without_item": unmatched}

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
