"""Stage ``pairs``: mine collaborative item pairs with hard negatives, domains and user shards on Ray.

Reads ``items``, ``interactions`` and the guide model's ``embeddings``; optionally
``domains`` (to mine only training domains) and ``ground_truth`` (to measure precision
against the demo generator's planted partners). Writes ``pairs`` in ``PAIRS_SCHEMA``.

Cosine and PMI run sharded by user and by item pair (:mod:`gre_ray.wiring.pairs_sharded`):
the driver never holds interactions, pairs or vectors. Swing runs a task per domain
(:mod:`gre_ray.wiring.pairs_swing`), because it samples every item's users in one place.
All the maths is the pure :mod:`gre_ray.pairs` core, which
:func:`gre_ray.pairs.mine.mine_domain` runs in one process; the figures recorded in the
manifest are :mod:`gre_ray.pairs.summary`.
"""

from __future__ import annotations

from typing import Any

from gre_ray.data.storage import read_table, write_table
from gre_ray.pairs.config import CoocScore, PairsConfig
from gre_ray.pairs.mine import DomainPairs
from gre_ray.pairs.summary import domain_figures, no_pair_warnings, pairs_table, totals
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.domains import choose_train_domains
from gre_ray.wiring.pairs_sharded import mine_sharded
from gre_ray.wiring.pairs_swing import mine_per_domain


@register
class PairsStage(Stage):
    name = "pairs"
    provides = ("pairs",)
    requires = ("items", "interactions", "embeddings")
    optional = ("domains", "ground_truth")
    uses_ray = True
    speed_settings = ("rows_per_shard", "pair_shards", "key_holders")

    def run(self, ctx: StageContext) -> None:
        config: PairsConfig = ctx.settings

        def choose(present: list[str]) -> list[str]:
            return choose_train_domains(ctx, present, config.train_domains_only, "pairs")

        if config.score != CoocScore.SWING:
            per_domain = mine_sharded(ctx, config, choose)
            self._record(ctx, per_domain, sum(s["kept"] for s in per_domain.values()))
            return
        self._write(ctx, mine_per_domain(ctx, config, choose))

    def _write(self, ctx: StageContext, results: dict[str, DomainPairs]) -> None:
        truth = read_table(ctx.input("ground_truth")) if ctx.has_input("ground_truth") else None
        per_domain = domain_figures(results, truth)
        table = pairs_table(results)
        write_table(table, ctx.out("pairs"))
        self._record(ctx, per_domain, table.num_rows)

    def _record(self, ctx: StageContext, per_domain: dict[str, Any], rows_out: int) -> None:
        """Counts, quarantine, warnings and totals of the mined domains, for the manifest."""
        for stats in per_domain.values():
            ctx.quarantine("unknown_item", stats["sequences"]["unknown_item_rows"])
        for warning in no_pair_warnings(per_domain):
            ctx.warn(warning)
        ctx.count(rows_out=rows_out)
        ctx.stats["domains"] = per_domain
        ctx.stats["totals"] = totals(per_domain, rows_out)

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
