"""Stage ``ingest``: public datasets as published → the data contract, every bad row accounted for.

For each dataset (a registry name or an explicit source, :mod:`gre_ray.ingest.sources`):

1. plan chunks of its raw files (byte ranges of plain files, whole ``.gz`` files);
2. Ray Data maps :func:`~gre_ray.ingest.parse.parse_chunk` over the chunks in parallel
   tasks, each streaming its chunk line by line, and writes the parsed rows, quarantined
   lines and line counts to a staging folder, so no raw file passes through the driver;
3. the driver assembles the final tables from narrow staging columns
   (:func:`~gre_ray.ingest.assemble.assemble`): item de-duplication, filters, k-core,
   dense ids, then streams the item texts through.

4. token counts of the kept item texts (GRE-B's ``#tokens``), one task per row group.

Tasks are plain functions rather than an actor pool: on a small machine an actor pool
took ~18 s to start against ~0.3 s for tasks, and the only state, the tokenizer, is
cached per worker process (:func:`~gre_ray.ingest.tokens.token_counter`).

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
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, fingerprint_files, write_table
from gre_ray.errors import DataError, UserError
from gre_ray.ingest.assemble import Outputs, assemble
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.files import Chunk
from gre_ray.ingest.local import job_for
from gre_ray.ingest.parse import ParseJob, parse_chunk
from gre_ray.ingest.sources import Dataset, plan, resolve
from gre_ray.ingest.tokens import count_row_group, resolve_tokenizer, row_groups, summarize
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register

log = logging.getLogger("gre_ray")


def parse_chunks(batch: dict[str, Any], chunks: list[Chunk], job: ParseJob) -> Iterator[pa.Table]:
    """Ray Data map function: the staging blocks of the chunks named in ``batch``."""
    for index in batch["chunk"]:
        yield from parse_chunk(chunks[int(index)], job)


def count_tokens(batch: dict[str, Any], uri: str, tokenizer: str) -> dict[str, Any]:
    """Ray Data map function: token counts of the item row groups named in ``batch``."""
    counts = [count_row_group(uri, int(group), tokenizer) for group in batch["group"]]
    return {"tokens": np.concatenate(counts) if counts else np.empty(0, np.int64)}


def _token_counts(items: Location, tokenizer: str) -> np.ndarray:
    import ray.data

    groups = row_groups(items.uri)
    if not groups:
        return np.empty(0, np.int64)
    blocks = ray.data.from_items([{"group": g} for g in range(groups)], override_num_blocks=groups)
    counted = blocks.map_batches(count_tokens, fn_kwargs={"uri": items.uri, "tokenizer": tokenizer}, batch_size=1, batch_format="numpy")
    return np.concatenate([b["tokens"] for b in counted.iter_batches(batch_format="numpy", batch_size=None)] or [np.empty(0, np.int64)])


def _user_error(exc: BaseException) -> UserError | None:
    """The user error inside an exception Ray raised for a failed task, if any."""
    seen = 0
    while exc is not None and seen < 8:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            return cause
        if isinstance(exc, UserError):
            return exc
        exc = cause or exc.__cause__ or exc.__context__
        seen += 1
    return None


def _stage_parse(chunks: list[Chunk], job: ParseJob, staging: Location) -> None:
    import ray.data

    blocks = ray.data.from_items([{"chunk": i} for i in range(len(chunks))], override_num_blocks=len(chunks))
    parsed = blocks.map_batches(parse_chunks, fn_kwargs={"chunks": chunks, "job": job}, batch_size=1, batch_format="numpy")
    try:
        parsed.write_parquet(staging.path, filesystem=staging.fs)
    except Exception as exc:  # noqa: BLE001 - a DataError from a task (strict mode) becomes one line
        error = _user_error(exc)
        if error is None:
            raise
        raise DataError(str(error).splitlines()[0]) from None


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
        tokenizer = resolve_tokenizer(settings.token_tokenizer)
        outputs = Outputs(ctx.out("items"), ctx.out("interactions"), ctx.out("id_maps"), ctx.out("quarantine"))
        staging_root = ctx.output / "_staging"
        per_dataset: dict[str, Any] = {}
        filtered: dict[str, int] = {}
        for dataset in datasets:
            staging = staging_root / dataset.name
            clock = [time.perf_counter()]
            _stage_parse(plan(dataset, settings.chunk_bytes), job_for(dataset, settings), staging)
            clock.append(time.perf_counter())
            result = assemble(staging, dataset, outputs, settings.strict)
            staging.remove()
            clock.append(time.perf_counter())
            if tokenizer and dataset.has_items:
                result.stats["table1"].update(summarize(_token_counts(outputs.items / f"{dataset.name}.parquet", tokenizer)))
            clock.append(time.perf_counter())
            result.stats["seconds"] = dict(zip(("parse", "assemble", "tokens"), (round(b - a, 2) for a, b in zip(clock, clock[1:]))))
            log.info("ingest: %s: %s", dataset.name, result.stats["seconds"])
            ctx.count(rows_in=result.rows_in, rows_out=result.rows_out)
            for reason, n in result.quarantined.items():
                ctx.quarantine(reason, n)
            for account in result.stats["rows"].values():
                for name, n in account["filtered"].items():
                    filtered[name] = filtered.get(name, 0) + n
            per_dataset[dataset.name] = result.stats
            for damage in result.stats["damaged_files"]:
                ctx.warn(
                    f"ingest: {dataset.name}: {damage['file']} is damaged ({damage['reason']}) at line {damage['line']}; "
                    "whatever followed in the file is lost and cannot be counted"
                )
        staging_root.remove()
        domains = pa.table(
            {
                "domain": pa.array([d.name for d in datasets], pa.string()),
                "scenario": pa.array([d.scenario.value for d in datasets], pa.string()),
                "role": pa.array([d.role.value for d in datasets], pa.string()),
            }
        )
        write_table(domains, ctx.out("domains"))
        ctx.stats["datasets"] = per_dataset
        ctx.stats["filtered"] = dict(sorted(filtered.items()))
        ctx.stats["totals"] = {
            key: sum(s["table1"].get(key, 0) for s in per_dataset.values()) for key in ("users", "items", "interactions", "tokens_total")
        }

    def summarize(self, manifest: dict[str, Any]) -> list[str]:
        """GRE-B Table 1 style: one line per dataset, then the row accounting."""
        lines = [f"{'dataset':<14} {'scenario':<11} {'role':<10} {'#users':>9} {'#items':>9} {'#inter.':>11} {'#tokens/item':>13}"]
        for name, stats in manifest["stats"]["datasets"].items():
            t = stats["table1"]
            lines.append(
                f"{name:<14} {stats['scenario']:<11} {stats['role']:<10} {t['users']:>9,} {t['items']:>9,} "
                f"{t['interactions']:>11,} {t.get('tokens_mean', 0.0):>13.1f}"
            )
        lines.extend(super().summarize(manifest))
        if manifest["stats"].get("filtered"):
            lines.append(f"filtered: {manifest['stats']['filtered']}")
        return lines
