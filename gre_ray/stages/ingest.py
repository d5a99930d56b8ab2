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
assembles one, the tasks of the next ones run. Tasks are plain functions rather than an
actor pool: on a small machine an actor pool took ~18 s to start against ~0.3 s for tasks,
and the only state, the tokenizer, is cached per worker process
(:func:`~gre_ray.ingest.tokens.token_counter`).

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
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, fingerprint_files, write_table
from gre_ray.errors import DataError, find_user_error
from gre_ray.ingest.assemble import Outputs, assemble
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.files import Chunk, Piece, gzip_pieces
from gre_ray.ingest.local import job_for
from gre_ray.ingest.parse import STAGING_SCHEMA, ParseJob, parse_chunk
from gre_ray.ingest.sources import Dataset, plan, resolve
from gre_ray.ingest.tokens import count_row_group, resolve_tokenizer, row_groups, summarize
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.checks import check_ingest, warn_empty_files

log = logging.getLogger("gre_ray")


def parse_to_staging(chunk: Chunk, job: ParseJob, staging_uri: str, piece: Piece | None = None) -> int:
    """Ray task: parse one chunk (or one piece of a ``.gz`` file) into one staging Parquet file; its row count."""
    staging = Location.of(staging_uri)
    path = (staging / f"{chunk.file.index:04d}-{chunk.index:06d}.parquet").path
    rows = 0
    with pq.ParquetWriter(path, STAGING_SCHEMA, filesystem=staging.fs) as writer:
        for block in parse_chunk(chunk, job, piece):
            writer.write_table(block)
            rows += block.num_rows
    return rows


def split_gzip_to_staging(chunk: Chunk, job: ParseJob, staging_uri: str, piece_bytes: int, in_flight: int, stop_uri: str) -> int:
    """Ray task: stream a ``.gz`` file into pieces and have parse tasks consume them, ``in_flight`` at most.

    Returns the staging rows written. A parse task's error (strict mode) is raised here. When the
    driver has written ``stop_uri`` (another dataset failed in strict mode), no further piece is
    started: the pieces in flight finish and the task returns early.
    """
    import ray

    parse = _remote("parse")
    stop = Location.of(stop_uri)
    pending: list[Any] = []
    rows = 0
    for piece in gzip_pieces(chunk.file, piece_bytes):
        if stop.exists():
            break
        part = replace(chunk, index=piece.index, skip_header=chunk.skip_header and piece.index == 0,
                       line_offset=0 if piece.index == 0 else None)  # fmt: skip
        pending.append(parse.remote(part, job, staging_uri, piece))
        if len(pending) >= in_flight:
            done, pending = ray.wait(pending, num_returns=1)
            rows += sum(ray.get(done))
    return rows + sum(ray.get(pending))


_REMOTE: dict[str, Any] = {}


def _remote(name: str) -> Any:
    """The Ray remote function of ``name``, made once per process (this module imports Ray lazily)."""
    if name not in _REMOTE:
        import ray

        _REMOTE["parse"] = ray.remote(num_cpus=1, max_retries=0)(parse_to_staging)
        # decompressing takes a fraction of a core and mostly waits on its parse tasks
        _REMOTE["split"] = ray.remote(num_cpus=0, max_retries=0)(split_gzip_to_staging)
    return _REMOTE[name]


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


def _launch(dataset: Dataset, settings: IngestConfig, staging: Location, in_flight: int, stop: Location) -> list[Any]:
    """Submit the parse tasks of ``dataset``; their object refs. ``stop``: see :func:`_wait`."""
    staging.mkdir()
    job = job_for(dataset, settings)
    refs = []
    for chunk in plan(dataset, settings.chunk_bytes):
        if settings.gzip_split and chunk.file.gzip and chunk.file.fmt.line_based and chunk.file.size > settings.chunk_bytes // 8:
            refs.append(_remote("split").remote(chunk, job, staging.uri, settings.chunk_bytes, in_flight, stop.uri))
        else:
            refs.append(_remote("parse").remote(chunk, job, staging.uri))
    return refs


def _wait(refs: list[Any], others: Any = (), stop: Location | None = None) -> None:
    """Wait for parse tasks; a user error raised in a task (strict mode) becomes one DataError line.

    Before it is raised, the other tasks of the stage (``others``: (dataset, refs, start)
    of the datasets still parsing) are told to stop (the ``stop`` marker, which a ``.gz``
    splitter reads before each piece) and drained, so no task is left writing into a folder
    that is about to be removed and Ray prints no "Unhandled error" for them. Tasks are not
    cancelled with ``ray.cancel``: a cancel that races a task's completion aborts the driver
    in Ray's core worker ("Tried to complete task that was not pending",
    ray-project/ray#54798); a parse task is bounded by ``ingest.chunk_bytes``.
    """
    import ray

    try:
        ray.get(refs)
    except Exception as exc:  # noqa: BLE001 - a DataError from a task (strict mode) becomes one line
        error = find_user_error(exc)
        if error is None:
            raise
        pending = [*refs, *(ref for _, more, _ in others for ref in more)]
        if stop is not None:
            stop.write_text(str(error).splitlines()[0])
        for ref in pending:
            try:
                ray.get(ref)
            except Exception:  # noqa: BLE001, S110 - failed too: only the first error is reported
                pass
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
        import ray

        settings: IngestConfig = ctx.settings
        datasets = resolve(settings)
        warn_empty_files(ctx, datasets)
        tokenizer = resolve_tokenizer(settings.token_tokenizer)
        outputs = Outputs(ctx.out("items"), ctx.out("interactions"), ctx.out("id_maps"), ctx.out("quarantine"))
        staging_root = ctx.output / "_staging"
        stop = staging_root / "_stop"
        stop.remove()  # left by an interrupted earlier attempt
        in_flight = int(ray.cluster_resources().get("CPU", 1)) + 1
        per_dataset: dict[str, Any] = {}
        filtered: dict[str, int] = {}
        waiting = deque(datasets)
        running: deque[tuple[Dataset, list[Any], float]] = deque()
        while waiting or running:
            while waiting and len(running) < settings.concurrent_datasets:
                dataset = waiting.popleft()
                running.append((dataset, _launch(dataset, settings, staging_root / dataset.name, in_flight, stop), time.perf_counter()))
            dataset, refs, started = running.popleft()
            staging = staging_root / dataset.name
            _wait(refs, running, stop)
            clock = [started, time.perf_counter()]
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
            for warning in result.stats.get("published_warnings", []):
                ctx.warn(warning)
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
            check = stats.get("published")
            if check:
                diffs = " ".join(f"{k} {check[k]['table1']:,} ({check[k]['rel_diff']:+.1%})" for k in ("users", "items", "interactions"))
                lines.append(f"{'':<14} GRE-B Table 1: {diffs}{'' if check['within'] else '  <- beyond ' + format(check['tolerance'], '.0%')}")
        lines.extend(super().summarize(manifest))
        if manifest["stats"].get("filtered"):
            lines.append(f"filtered: {manifest['stats']['filtered']}")
        return lines
