"""Stage ``demo_data``: generate the demo domains in parallel Ray tasks and write them.

Each task runs :func:`gre_ray.demo.measured.generate_measured` (:mod:`gre_ray.wiring.tasks`).

Artifacts: ``items``, ``interactions`` (the data contract), ``domains`` (scenario and
train/benchmark role per domain) and ``ground_truth`` (the planted complementary partner
of every item, for measuring pair mining).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import pyarrow as pa

from gre_ray.data.schema import INTERACTIONS, ITEMS, validate_table
from gre_ray.data.storage import write_table
from gre_ray.demo.generator import DemoDataConfig, domains_table, ground_truth_table
from gre_ray.demo.measured import domain_stats, generate_measured
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.wiring.tasks import run_in_tasks


@register
class DemoDataStage(Stage):
    name = "demo_data"
    provides = ("items", "interactions", "domains", "ground_truth")
    uses_ray = True

    def external_inputs(self, config: Any) -> dict[str, str]:
        """The vocabulary file: editing it changes the data, so it reruns the stage."""
        text = resources.files("gre_ray.demo").joinpath("vocabulary.yaml").read_bytes()
        return {"vocabulary.yaml": hashlib.sha256(text).hexdigest()[:16]}

    def run(self, ctx: StageContext) -> None:
        config: DemoDataConfig = ctx.settings
        results = run_in_tasks(generate_measured, [(config, d) for d in config.domain_names()])
        datas = [data for data, _ in results]

        items = validate_table(pa.concat_tables([d.items for d in datas]), ITEMS, "demo_data/items")
        interactions = validate_table(
            pa.concat_tables([d.interactions for d in datas]), INTERACTIONS, "demo_data/interactions"
        )
        write_table(items, ctx.out("items"))
        write_table(interactions, ctx.out("interactions"))
        write_table(domains_table(datas), ctx.out("domains"))
        write_table(pa.concat_tables([ground_truth_table(d) for d in datas]), ctx.out("ground_truth"))

        ctx.count(rows_out=items.num_rows + interactions.num_rows)
        ctx.stats["domains"] = domain_stats(results)
        ctx.stats["totals"] = {"items": items.num_rows, "interactions": interactions.num_rows}

    def summarize(self, manifest: dict) -> list[str]:
        lines = [f"{'domain':<12} {'scenario':<11} {'role':<10} {'users':>8} {'items':>7} {'interactions':>13}"]
        for name, d in manifest["stats"]["domains"].items():
            lines.append(
                f"{name:<12} {d['scenario']:<11} {d['role']:<10} {d['users']:>8,} {d['items']:>7,} {d['interactions']:>13,}"
            )
        totals = manifest["stats"]["totals"]
        lines.append(f"total: {totals['items']:,} items, {totals['interactions']:,} interactions")
        return lines
