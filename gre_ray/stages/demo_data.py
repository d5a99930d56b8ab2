"""Stage ``demo_data``: generate the demo domains in parallel Ray tasks and write them.

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
from gre_ray.demo.generator import DemoDataConfig, DomainData, domains_table, generate_domain, ground_truth_table
from gre_ray.demo.properties import measure
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register


def _generate(config: DemoDataConfig, domain: str) -> tuple[DomainData, dict[str, float]]:
    data = generate_domain(config, domain)
    props = measure(data.items, data.interactions, ground_truth_table(data), seed=config.seed)
    return data, props.as_dict()


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
        import ray

        config: DemoDataConfig = ctx.settings
        task = ray.remote(num_cpus=1)(_generate)
        results = ray.get([task.remote(config, d) for d in config.domain_names()])
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
        ctx.stats["domains"] = {
            d.domain: {
                "scenario": d.scenario,
                "role": d.role,
                "users": len(set(d.interactions.column("user_id").to_pylist())),
                "items": d.items.num_rows,
                "interactions": d.interactions.num_rows,
                "properties": props,
            }
            for d, props in results
        }
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
