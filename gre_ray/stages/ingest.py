"""Stage ``ingest``: public datasets as published → the data contract, every bad row accounted for.

For each dataset (a registry name or an explicit source, :mod:`gre_ray.ingest.sources`):

1. plan chunks of its raw files (byte ranges of plain files, whole ``.gz`` files);
2. Ray tasks parse the chunks in parallel (:func:`~gre_ray.ingest.parse.parse_chunk`),
   each streaming its chunk line by line and writing the parsed rows, quarantined lines
   and line counts to a staging folder, so no raw file passes through the driver. A
   ``.gz`` file cannot be entered in the middle: one task parses it whole, or, with
   ``ingest.gzip_split: true``, one streaming task decompresses it and cuts it into
   pieces of whole lines (:func:`~gre_ray.ingest.files.gzip_pieces`) that parse tasks
   consume as they come, a bounded number in flight (memory stays bounded). On 2 cores
   the split measured slower than one task per file (``benchmarks/RESULTS.md``), so it is
   off by default;
3. the driver assembles the final tables from narrow staging columns
   (:func:`~gre_ray.ingest.assemble.assemble`): item de-duplication, filters, k-core,
   dense ids, then streams the item texts through, and compares the counts with GRE-B
   Table 1's (:mod:`gre_ray.ingest.published`);
4. token counts of the kept item texts (GRE-B's ``#tokens``), one task per row group.

Up to ``ingest.concurrent_datasets`` datasets parse at the same time: while the driver
assembles one, the tasks of the next ones run. The Ray tasks (plain functions, not an
actor pool) are :mod:`gre_ray.wiring.ingest_tasks`; the run's figures are
:mod:`gre_ray.ingest.summary`.

Artifacts: ``items``, ``interactions`` (the contract), ``domains`` (domain, scenario,
role), ``id_maps`` (domain, kind, raw_id, dense_id) and ``quarantine`` (file, line,
reason, raw), each a folder with one Parquet file per dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import deque
from typing import Any

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, fingerprint_files, write_table
from gre_ray.ingest.assemble import Outputs, assemble
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.sources import Dataset, resolve
from gre_ray.ingest.summary import dataset_warnings, domains_table, filtered_rows, totals
from gre_ray.ingest.tokens import resolve_tokenizer, summarize
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.checks import check_ingest, warn_empty_files
from gre_ray.wiring import ingest_tasks

log = logging.getLogger("gre_ray")


def _resolved_digest(datasets: list[Dataset]) -> str:
    """Hash of the resolved dataset settings (registry entries included) for the fingerprint."""
    described = [
        [d.name, d.scenario.value, d.role.value, d.adapter.value, d.options, d.text_fields, to_dict(d.filters), [f.display for f in d.files]]
        for d in datasets
    ]
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


@register
class IngestStage(Stage):
    name = "ingest"
    provides = ("items", "interactions", "domains", "id_maps", "quarantine")
    uses_ray = True
    version = 1

    def preflight(self, config: Any) -> None:
        """A missing or empty data root, and raw files of 0 bytes (unless ``ingest.allow_empty``)."""
        check_ingest(config.ingest)

    def external_inputs(self, config: Any) -> dict[str, str]:
        """Size and mtime of every raw file, the resolved registry entries and the tokenizer."""
        settings: IngestConfig = config.ingest
        datasets = resolve(settings)
        prints = {f"{d.name}:{f.display}": fingerprint_files(Location.of(f.uri)) for d in datasets for f in d.files}
        prints["datasets"] = _resolved_digest(datasets)
        tokenizer = resolve_tokenizer(settings.token_tokenizer)
        if tokenizer and os.path.isfile(os.path.join(tokenizer, "tokenizer.json")):
            prints["tokenizer"] = fingerprint_files(Location.of(os.path.join(tokenizer, "tokenizer.json")), content=True)
        return prints

    def run(self, ctx: StageContext) -> None:
        settings: IngestConfig = ctx.settings
        datasets = resolve(settings)
        warn_empty_files(ctx, datasets)
        tokenizer = resolve_tokenizer(settings.token_tokenizer)
        outputs = Outputs(ctx.out("items"), ctx.out("interactions"), ctx.out("id_maps"), ctx.out("quarantine"))
        staging_root = ctx.output / "_staging"
        stop = staging_root / "_stop"
        stop.remove()  # left by an interrupted earlier attempt
        in_flight = ingest_tasks.parse_slots()
        per_dataset: dict[str, Any] = {}
        waiting = deque(datasets)
        running: deque[tuple[Dataset, list[Any], float]] = deque()
        while waiting or running:
            while waiting and len(running) < settings.concurrent_datasets:
                dataset = waiting.popleft()
                refs = ingest_tasks.launch(dataset, settings, staging_root / dataset.name, in_flight, stop)
                running.append((dataset, refs, time.perf_counter()))
            dataset, refs, started = running.popleft()
            staging = staging_root / dataset.name
            ingest_tasks.wait(refs, running, stop)
            clock = [started, time.perf_counter()]
            result = assemble(staging, dataset, outputs, settings.strict)
            staging.remove()
            clock.append(time.perf_counter())
            if tokenizer and dataset.has_items:
                counts = ingest_tasks.token_counts(outputs.items / f"{dataset.name}.parquet", tokenizer)
                result.stats["table1"].update(summarize(counts))
            clock.append(time.perf_counter())
            result.stats["seconds"] = dict(zip(("parse", "assemble", "tokens"), (round(b - a, 2) for a, b in zip(clock, clock[1:]))))
            log.info("ingest: %s: %s", dataset.name, result.stats["seconds"])
            ctx.count(rows_in=result.rows_in, rows_out=result.rows_out)
            for reason, n in result.quarantined.items():
                ctx.quarantine(reason, n)
            per_dataset[dataset.name] = result.stats
            for warning in dataset_warnings(dataset.name, result.stats):
                ctx.warn(warning)
        staging_root.remove()
        write_table(domains_table(datasets), ctx.out("domains"))
        ctx.stats["datasets"] = per_dataset
        ctx.stats["filtered"] = filtered_rows(per_dataset)
        ctx.stats["totals"] = totals(per_dataset)

    def summarize(self, manifest: dict[str, Any]) -> list[str]:
        """GRE-B Table 1 style: one line per dataset, then the row accounting."""
        lines = [f"{'dataset':<14} {'scenario':<11} {'role':<10} {'#users':>9} {'#items':>9} {'#inter.':>11} {'#tokens/item':>13}"]
        for name, stats in manifest["stats"]["datasets"].items():
            t = stats["table1"]
            lines.append(
                f"{name:<14} {stats['scenario']:<11} {stats['role']:<10} {t['users']:>9,} {t['items']:>9,} "
                f"{t['interactions']:>11,} {t.get('tokens_mean', 0.0):>13.1f}"
            )
            check = stats.get("published")
            if check:
                diffs = " ".join(f"{k} {check[k]['table1']:,} ({check[k]['rel_diff']:+.1%})" for k in ("users", "items", "interactions"))
                lines.append(f"{'':<14} GRE-B Table 1: {diffs}{'' if check['within'] else '  <- beyond ' + format(check['tolerance'], '.0%')}")
        lines.extend(super().summarize(manifest))
        if manifest["stats"].get("filtered"):
            lines.append(f"filtered: {manifest['stats']['filtered']}")
        return lines
