"""Ray Data wiring of batch inference: items → actor pool of encoders → Parquet embeddings.

The pipeline, in three steps:

1. **Check before any work** (driver, files only; :mod:`gre_ray.embed.job`): the model
   folder is an encoder, half precision has GPUs, the items have ``item_id`` and ``text``
   columns and no repeated id. A mistake here costs no actor start-up and leaves nothing
   written.
2. **Embed**: the items are cut into blocks of ``rows_per_call`` rows and materialised,
   then mapped by an actor pool of :class:`PlacedEmbedBatch` (the pure
   :class:`~gre_ray.embed.inference.EmbedBatch` on the device Ray gave the actor)
   (``compute=ActorPoolStrategy(size=actors)``, ``num_gpus`` per actor, one torch thread
   per CPU actor), once the cluster holds the pool (:mod:`gre_ray.wiring.autoscale` asks
   an autoscaling cluster for the GPU nodes). Splitting first keeps every actor busy, and
   it leaves no CPU task queued behind actors that hold every CPU (on a 2-CPU Ray a read
   task behind two 1-CPU actors never runs).
3. **Write and index** (:mod:`gre_ray.embed.shards`): each actor call writes its
   ``item_id`` + ``embedding`` (``fixed_size_list<float32>[dim]``) rows to a call file and
   its text hashes beside it, and returns one summary row (tokens, truncation, errors, time
   and memory of the call), which one task turns into the report with the hashes; one
   task per shard of at most ``index.shard_rows`` rows joins its call files into a part of
   the embeddings folder and builds that part's faiss index. No process holds every vector:
   the driver holds object refs, a summary row per call, file names and the per-shard row
   counts (issue #31).

:func:`embed_items` puts the result in the content-keyed cache of :mod:`gre_ray.embed.cache`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from gre_ray.data.storage import Location, read_table, write_json, write_table
from gre_ray.embed.cache import cache_key, complete, texts_fingerprint
from gre_ray.embed.config import Device, EmbedConfig, EncoderConfig
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.errors import DataError
from gre_ray.embed.inference import EmbedBatch, check_utf8
from gre_ray.embed import shards
from gre_ray.embed.job import EmbedReport, call_summary, check_settings, read_item_ids
from gre_ray.embed.vectors import embeddings_table
from gre_ray.runner.resources import embed_need
from gre_ray.wiring import autoscale
from gre_ray.wiring.accelerator import gpu_device, node_id

log = logging.getLogger("gre_ray")


class PlacedEmbedBatch(EmbedBatch):
    """:class:`~gre_ray.embed.inference.EmbedBatch` on the device and node Ray gave the actor.

    Args:
        gpu: Ray gave this actor a GPU share: it runs on CUDA, and stops if there is none
            (on a simulated cluster it runs on the CPU, see :mod:`gre_ray.wiring.accelerator`).
        The others: as :class:`~gre_ray.embed.inference.EmbedBatch`.
    """

    def __init__(
        self, encoder: EncoderConfig, token_budget: int | None, max_batch_rows: int, cpu_threads: int = 1, gpu: bool = False
    ) -> None:
        device = None
        if gpu:
            device = Device.CUDA if gpu_device("embed actor").type == "cuda" else Device.CPU
        super().__init__(encoder, token_budget, max_batch_rows, cpu_threads, gpu_device=device, node=node_id())


class WritingEmbedBatch(PlacedEmbedBatch):
    """:class:`PlacedEmbedBatch` that writes each call's vectors to ``staging`` and its text
    hashes to ``hashes``, and returns one summary row (:func:`gre_ray.embed.job.call_summary`).

    Args:
        staging: the folder of the call files (:func:`gre_ray.embed.shards.write_call`).
        hashes: the folder of the calls' text hashes (duplicate texts are counted from them).
        The others: as :class:`PlacedEmbedBatch`.
    """

    def __init__(self, staging: Location, hashes: Location, **kwargs) -> None:
        super().__init__(**kwargs)
        self.staging, self.hashes = staging, hashes

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = super().__call__(batch)
        shards.write_call(table, self.staging, self.hashes)
        return call_summary(table)


def _default_actors(settings: EmbedConfig, blocks: int) -> int:
    import ray

    if settings.actors:
        return max(1, min(settings.actors, blocks))
    resources = ray.cluster_resources()
    if settings.num_gpus > 0:
        slots = int(resources.get("GPU", 0) / settings.num_gpus)
    else:
        slots = int(resources.get("CPU", 1))
    return max(1, min(slots, blocks))


def embed_items_to(items: Location | pa.Table, settings: EmbedConfig, out: Location,
                   index_out: Location | None = None) -> EmbedReport:
    """Embed every item of ``items``, write the embeddings Parquet folder ``out`` and its sharded index.

    Args:
        items: a Parquet file/folder or an Arrow table with ``item_id`` and ``text``.
        settings: encoder, Ray and index settings.
        out: the folder to write (it should not exist yet).
        index_out: the sharded index folder (:mod:`gre_ray.embed.shards`); unset: no index.

    Returns:
        The report of the run.

    Raises:
        ConfigError, DataError: a bad model or setting, missing columns or a repeated
            id (before any work), a text that is not UTF-8 (while embedding).
    """
    import ray

    source = "items table" if isinstance(items, pa.Table) else items.uri
    spec = check_settings(settings)
    rows = len(read_item_ids(items, source))
    if rows == 0:
        dim = int(json.loads((Path(spec.model_dir) / "config.json").read_text())["hidden_size"])
        write_table(embeddings_table([], np.zeros((0, dim), np.float32)), out)
        if index_out is not None:
            shards.write_shard_list(index_out, settings.index, dim, [])
        return EmbedReport(dim=dim)

    staging, hashes = out.parent / f"_{out.name}-calls", out.parent / f"_{out.name}-hashes"
    staging.remove()
    hashes.remove()
    blocks = -(-rows // settings.rows_per_call)
    need = embed_need(min(settings.actors, blocks) if settings.actors else 1, settings.num_gpus)
    try:
        with autoscale.resources(need):  # asked first: on an autoscaling cluster the GPU nodes may not exist yet
            if isinstance(items, pa.Table):
                table = items.select(["item_id", "text"])
                size = settings.rows_per_call
                ds = ray.data.from_arrow([table.slice(i * size, size) for i in range(blocks)])
            else:
                ds = ray.data.read_parquet(items.path, filesystem=items.fs, columns=["item_id", "text"])
                ds = ds.repartition(target_num_rows_per_block=settings.rows_per_call).materialize()
            actors = _default_actors(settings, blocks)
            started = time.perf_counter()
            embedded = ds.map_batches(
                WritingEmbedBatch,
                fn_constructor_kwargs={"staging": staging, "hashes": hashes, "encoder": settings.encoder,
                                       "token_budget": settings.token_budget,
                                       "max_batch_rows": settings.max_batch_rows, "gpu": settings.num_gpus > 0},
                batch_size=settings.rows_per_call,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=1,
                num_gpus=settings.num_gpus or None,
            ).materialize()
            wall = time.perf_counter() - started

        task = ray.remote(num_cpus=1)
        error, report = ray.get(task(shards.call_report).remote(wall, actors, source, hashes,
                                                                *embedded.to_arrow_refs()))
        del embedded
        if error:
            raise DataError(error)
        groups = ray.get(task(shards.plan_shards).remote(staging, settings.index.shard_rows))
        built = ray.get([task(shards.build_shard).remote(files, staging, i, out, index_out, settings.index)
                         for i, files in enumerate(groups)])
    finally:
        staging.remove()
        hashes.remove()
    report.dim = shards.dim_of(out)
    if index_out is not None:
        shards.write_shard_list(index_out, settings.index, report.dim, built)
    log.info("embedded %d texts in %.1fs (%.0f texts/s, %d actors), %d index shard(s)", report.rows, wall,
             report.texts_per_s, actors, len(built))
    return report


def embed_and_index(
    items: Location | pa.Table, settings: EmbedConfig, embeddings_out: Location, index_out: Location
) -> dict:
    """Embed ``items`` into ``embeddings_out`` and build the sharded faiss index into ``index_out``.

    Returns:
        Manifest figures: the run report, the resolved encoder settings and the index size.
    """
    started = time.perf_counter()
    report = embed_items_to(items, settings, embeddings_out, index_out)
    spec = check_settings(settings)
    index = shards.ShardedIndex.load(index_out)
    return {
        **report.as_dict(),
        "encoder": {"model_dir": spec.model_dir, **spec.key_fields()},
        "index": {"kind": settings.index.kind.value, "metric": settings.index.metric.value, "rows": len(index),
                  "shards": len(index.shards)},
        "total_s": round(time.perf_counter() - started, 3),
    }


def embed_to_folder(
    items: Location | pa.Table, settings: EmbedConfig, out: Location, extra: dict | None = None
) -> dict:
    """Write ``out/embeddings``, ``out/index`` and ``out/manifest.json``, all or nothing.

    The folder is built beside ``out`` and renamed into place when complete, replacing
    an older ``out``; a failure leaves ``out`` as it was.

    Returns:
        The manifest written (``extra`` merged into the figures of :func:`embed_and_index`).
    """
    tmp = out.parent / f"_tmp-{out.name}-{uuid.uuid4().hex[:8]}"
    try:
        figures = embed_and_index(items, settings, tmp / "embeddings", tmp / "index")
        manifest = {**(extra or {}), **figures, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json(tmp / "manifest.json", manifest)
        out.remove()
        tmp.move_to(out)
    finally:
        tmp.remove()
    return manifest


def _as_table(items: pa.Table | Location | str, source: str) -> pa.Table:
    if isinstance(items, pa.Table):
        return items
    loc = items if isinstance(items, Location) else Location.of(items)
    read_item_ids(loc, source)  # checks columns and ids before the texts are read
    return read_table(loc, columns=["item_id", "text"])


def embed_items(
    items: pa.Table | Location | str,
    encoder_config: EncoderConfig,
    cache_root: Location | str,
    settings: EmbedConfig | None = None,
) -> Location:
    """The embeddings of ``items`` under ``encoder_config``, from the cache or computed into it.

    Runs on the Ray of the calling process (Ray Data starts a local one if none is
    running). The items' texts are read into the driver to fingerprint them.

    Args:
        items: an Arrow table or a Parquet file/folder (path, URI or Location) with
            ``item_id`` and ``text``; ids must be unique.
        encoder_config: which vectors to compute.
        cache_root: the cache folder (local path or URI).
        settings: Ray and index settings (default: :class:`EmbedConfig` defaults);
            its ``encoder`` is replaced by ``encoder_config``.

    Returns:
        The Location of the embeddings Parquet folder; its ``parent / "index"`` holds the
        faiss index and ``parent / "manifest.json"`` the key's inputs and the run report.

    Raises:
        ConfigError, DataError: a bad model or setting, missing columns, a repeated id or
            a text that is not UTF-8, all before any work.
    """
    settings = replace(settings or EmbedConfig(), encoder=encoder_config)
    source = "items table" if isinstance(items, pa.Table) else str(getattr(items, "uri", items))
    spec = check_settings(settings)
    table = _as_table(items, source)
    read_item_ids(table, source)
    check_utf8(table, source)
    weights, texts = model_fingerprint(Path(spec.model_dir)), texts_fingerprint(table)
    key = cache_key(spec, weights, texts)
    root = cache_root if isinstance(cache_root, Location) else Location.of(cache_root)
    entry = root / key
    if complete(entry):
        log.info("embeddings %s: cached (%s)", key, entry.uri)
        return entry / "embeddings"

    embed_to_folder(table.select(["item_id", "text"]), settings, entry,
                    extra={"key": key, "weights": weights, "texts": texts, "model": encoder_config.model})
    log.info("embeddings %s: computed (%s)", key, entry.uri)
    return entry / "embeddings"
