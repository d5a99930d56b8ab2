"""Stage ``pairs``: mine collaborative item pairs with hard negatives, domains and user shards on Ray.

Reads ``items``, ``interactions`` and the guide model's ``embeddings``; optionally
``domains`` (to mine only training domains) and ``ground_truth`` (to measure precision
against the demo generator's planted partners). Writes ``pairs`` in ``PAIRS_SCHEMA``.

Cosine and PMI run sharded by user and by item pair (:mod:`gre_ray.wiring.pairs_sharded`):
the driver never holds interactions, pairs or vectors. Swing keeps the per-domain layout
below, because it samples every item's users in one place. The Swing layout: one task
per domain prepares its sequences; each domain's users are cut
into shards of about ``rows_per_shard`` interactions, one task per shard counts a partial
sparse matrix (Swing: one task per range of first users), the partials are summed; one
task per domain scores, filters and finds negatives. All the maths is the pure
:mod:`gre_ray.pairs` core, which :func:`gre_ray.pairs.mine.mine_domain` runs in one process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.schema import INTERACTIONS, ITEMS, PAIRS, embedding_dim, embeddings_contract, empty_table, validate_table
from gre_ray.data.storage import read_table, write_table
from gre_ray.pairs.config import CoocScore, PairsConfig
from gre_ray.pairs.cooccurrence import cooccurrence_counts, sum_counts
from gre_ray.pairs.domain import PreparedDomain, domain_items, prepare_domain
from gre_ray.pairs.evaluate import planted_precision
from gre_ray.pairs.mine import DomainPairs, select_pairs, swing_input
from gre_ray.pairs.scores import swing_partial
from gre_ray.wiring.pairs_sharded import mine_sharded
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.domains import choose_train_domains
from gre_ray.data.heldout_users import drop_heldout_users


def _prepare(domain: str, items: pa.Table, embeddings: pa.Table, interactions: pa.Table, config: PairsConfig) -> PreparedDomain:
    return prepare_domain(interactions, domain_items(domain, items, embeddings), config)


@register
class PairsStage(Stage):
    name = "pairs"
    provides = ("pairs",)
    requires = ("items", "interactions", "embeddings")
    optional = ("domains", "ground_truth")
    uses_ray = True
    speed_settings = ("rows_per_shard", "pair_shards")

    def run(self, ctx: StageContext) -> None:
        config: PairsConfig = ctx.settings
        if config.score != CoocScore.SWING:
            per_domain = mine_sharded(
                ctx, config, lambda present: choose_train_domains(ctx, present, config.train_domains_only, "pairs"))
            self._record(ctx, per_domain, sum(s["kept"] for s in per_domain.values()))
            return
        self._run_per_domain(ctx, config)

    def _run_per_domain(self, ctx: StageContext, config: PairsConfig) -> None:
        """Swing: one task per domain prepares it (Swing samples every item's users in one place)."""
        import ray

        items = read_table(ctx.input("items"), ITEMS)
        interactions = read_table(ctx.input("interactions"), INTERACTIONS)
        interactions, ctx.stats["heldout_user_rows"] = drop_heldout_users(interactions, config.heldout_users, config.seed)
        raw_embeddings = read_table(ctx.input("embeddings"))
        dim = embedding_dim(raw_embeddings.schema, ctx.input("embeddings").uri)
        embeddings = validate_table(raw_embeddings, embeddings_contract(dim), ctx.input("embeddings").uri)

        present = sorted(set(interactions.column("domain").to_pylist()))
        domains = choose_train_domains(ctx, present, config.train_domains_only, "pairs")
        known_domains = set(items.column("domain").to_pylist())
        for d in domains:
            if d not in known_domains:
                ctx.warn(f"pairs: domain {d!r} has interactions but no items; all its interactions are unknown items")
        emb_ref = ray.put(embeddings)
        prepare = ray.remote(num_cpus=1)(_prepare)
        prepared_refs = {}
        for d in domains:
            inter_d = interactions.filter(pc.equal(interactions.column("domain"), d))
            ctx.count(rows_in=inter_d.num_rows)
            items_d = items.filter(pc.equal(items.column("domain"), d))
            prepared_refs[d] = prepare.remote(d, items_d, emb_ref, inter_d, config)

        count = ray.remote(num_cpus=1)(cooccurrence_counts)
        swing = ray.remote(num_cpus=1)(swing_partial)
        select = ray.remote(num_cpus=1)(select_pairs)
        partials: dict[str, list] = {}
        whole_parts: dict[str, list] = {}
        swing_parts: dict[str, list] = {}
        for d, ref in prepared_refs.items():
            prepared: PreparedDomain = ray.get(ref)
            shards = prepared.sequences.shards(config.rows_per_shard)
            partials[d] = [count.remote(shard, config.window) for shard in shards]
            if config.window is not None:  # negatives avoid pairs anywhere in a history
                whole_parts[d] = [count.remote(shard, None) for shard in shards]
            if config.score == CoocScore.SWING:
                x, weights = swing_input(prepared, config)
                x_ref, w_ref = ray.put(x), ray.put(weights)
                bounds = np.cumsum([0] + [s.n_users for s in shards])
                swing_parts[d] = [
                    swing.remote(x_ref, w_ref, config.swing_alpha, (int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])
                ]
        result_refs = {}
        for d, ref in prepared_refs.items():
            counts = sum_counts(ray.get(partials[d]))
            swing_matrix = sum_counts(ray.get(swing_parts[d])) if d in swing_parts else None
            together = sum_counts(ray.get(whole_parts[d])) if d in whole_parts else None
            result_refs[d] = select.remote(ref, counts, config, swing_matrix, together)
        results: dict[str, DomainPairs] = {d: ray.get(r) for d, r in result_refs.items()}
        self._write(ctx, results)

    def _write(self, ctx: StageContext, results: dict[str, DomainPairs]) -> None:
        truth = read_table(ctx.input("ground_truth")) if ctx.has_input("ground_truth") else None
        per_domain: dict[str, Any] = {}
        for d, result in results.items():
            stats = dict(result.stats)
            if truth is not None:
                gt = truth.filter(pc.equal(truth.column("domain"), d))
                if gt.num_rows:
                    stats["planted"] = planted_precision(result, gt)
            per_domain[d] = stats
        tables = [results[d].table for d in sorted(results)]
        table = pa.concat_tables(tables) if tables else empty_table(PAIRS)
        table = validate_table(table, PAIRS, "pairs")
        write_table(table, ctx.out("pairs"))
        self._record(ctx, per_domain, table.num_rows)

    def _record(self, ctx: StageContext, per_domain: dict[str, Any], rows_out: int) -> None:
        """Counts, quarantine, warnings and totals of the mined domains, for the manifest."""
        hits = mined = 0
        for d, stats in per_domain.items():
            ctx.quarantine("unknown_item", stats["sequences"]["unknown_item_rows"])
            if stats["kept"] == 0:
                ctx.warn(
                    f"pairs: domain {d!r}: no pair passed the thresholds "
                    f"({stats['support_pairs']} pairs had min_support, {stats['candidates']} were candidates)"
                )
            if "planted" in stats:
                hits += stats["planted"]["hits"]
                mined += stats["planted"]["mined_pairs"]
        ctx.count(rows_out=rows_out)
        ctx.stats["domains"] = per_domain
        totals = {
            "pairs": rows_out,
            "domains_mined": len(per_domain),
            "domains_without_pairs": [d for d, s in per_domain.items() if s["kept"] == 0],
            "single_item_users": sum(s["sequences"]["single_item_users"] for s in per_domain.values()),
            "capped_users": sum(s["sequences"]["capped_users"] for s in per_domain.values()),
            "repeat_rows": sum(s["sequences"]["repeat_rows"] for s in per_domain.values()),
        }
        if mined:
            totals["planted_precision"] = round(hits / mined, 4)
        ctx.stats["totals"] = totals

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        lines = [f"{'domain':<12} {'candidates':>10} {'kept':>7} {'cooc_min':>9} {'text_min':>9} {'precision':>9}"]
        for name, d in stats.get("domains", {}).items():
            th = d["thresholds"]
            precision = (d.get("planted") or {}).get("precision")
            lines.append(
                f"{name:<12} {d['candidates']:>10,} {d['kept']:>7,} {_fmt(th['cooc_min']):>9} "
                f"{_fmt(th['text_min']):>9} {_fmt(precision):>9}"
            )
        totals = stats.get("totals", {})
        line = f"total: {totals.get('pairs', 0):,} pairs from {totals.get('domains_mined', 0)} domain(s)"
        if "planted_precision" in totals:
            line += f", precision vs planted partners {totals['planted_precision']:.3f}"
        return lines + [line]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
