"""Ray Data wiring of batch inference: items → actor pool of encoders → Parquet embeddings.

The pipeline, in three steps:

1. **Check before any work** (driver, files only): the model folder is an encoder, half
   precision has GPUs, the items have ``item_id`` and ``text`` columns and no repeated
   id. A mistake here costs no actor start-up and leaves nothing written.
2. **Embed**: the items are cut into blocks of ``rows_per_call`` rows and materialised,
   then mapped by an actor pool of :class:`~gre_ray.embed.inference.EmbedBatch`
   (``compute=ActorPoolStrategy(size=actors)``, ``num_gpus`` per actor, one torch thread
   per CPU actor), once the cluster holds the pool (:mod:`gre_ray.runner.autoscale` asks
   an autoscaling cluster for the GPU nodes). Splitting first keeps every actor busy, and
   it leaves no CPU task queued behind actors that hold every CPU (on a 2-CPU Ray a read
   task behind two 1-CPU actors never runs).
3. **Write** ``item_id`` + ``embedding`` (``fixed_size_list<float32>[dim]``) from the
   driver: the embedded blocks are fetched once, the per-row bookkeeping columns become
   the report, and the vectors are written with pyarrow and handed to the index build
   as they are. The index needs every vector in the driver anyway (1.5 GB per million
   384-d vectors), so this costs no memory beyond that, and it saves the second Ray Data
   job (write tasks) and the read back that the write used to cost (issue #22).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.schema import check_unique
from gre_ray.data.storage import Location, write_json, write_table
from gre_ray.embed.config import Backend, DType, EmbedConfig
from gre_ray.embed.encoder import EncoderSpec, native_bf16, resolve_spec
from gre_ray.embed.inference import STAT_COLUMNS, EmbedBatch
from gre_ray.embed.index import EmbeddingIndex
from gre_ray.embed.vectors import embeddings_table, matrix_of
from gre_ray.errors import ConfigError, DataError
from gre_ray.runner import autoscale

log = logging.getLogger("gre_ray")


@dataclass
class EmbedReport:
    """What one embedding run did (recorded in the manifest).

    Attributes:
        rows: items embedded.
        dim: vector dimension.
        empty_texts: empty or whitespace-only texts (embedded as the bare prefix).
        truncated_texts: texts longer than ``max_length`` tokens.
        duplicate_texts: rows whose text repeats an earlier row's text.
        tokens: tokens embedded after truncation; ``padded_tokens`` adds the padding.
        wall_s: seconds of the actor stage, actor start-up included.
        texts_per_s, tokens_per_s: rows and tokens over ``wall_s``.
        actors: actor pool size; ``workers``: rows, busy (wall) and CPU seconds of the
            calls, and peak RSS, per actor.
    """

    rows: int = 0
    dim: int = 0
    empty_texts: int = 0
    truncated_texts: int = 0
    duplicate_texts: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    wall_s: float = 0.0
    texts_per_s: float = 0.0
    tokens_per_s: float = 0.0
    actors: int = 0
    workers: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def check_settings(settings: EmbedConfig) -> EncoderSpec:
    """Resolve the encoder and reject settings that cannot run, before any work starts."""
    spec = resolve_spec(settings.encoder)
    if spec.backend is Backend.OPENVINO and settings.num_gpus > 0:
        raise ConfigError("embed.encoder.backend openvino runs on CPUs: set embed.num_gpus: 0 or backend: transformers")
    cpu_bf16 = spec.dtype is DType.BFLOAT16 and native_bf16()
    if spec.dtype is not DType.FLOAT32 and settings.num_gpus <= 0 and not cpu_bf16:
        raise ConfigError(
            f"embed.encoder.dtype {spec.dtype.value} needs GPUs (or, for bfloat16, CPUs with native bf16): "
            "set embed.num_gpus > 0 or dtype: float32"
        )
    return spec


def read_item_ids(items: Location | pa.Table, source: str) -> pa.Array:
    """The ``item_id`` column, after checking the columns and that no id repeats.

    For a Location only the schema and the ids are read; the texts stay on disk.
    """
    try:
        if isinstance(items, pa.Table):
            schema, ids = items.schema, (items.column("item_id") if "item_id" in items.column_names else None)
        elif not items.exists():
            raise DataError(f"{source}: items file or folder does not exist")
        else:
            schema = pq.ParquetDataset(items.path, filesystem=items.fs).schema
            ids = None
            if "item_id" in schema.names:
                ids = pq.read_table(items.path, filesystem=items.fs, columns=["item_id"]).column("item_id")
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{source}: cannot read as Parquet: {exc}") from None
    for name in ("item_id", "text"):
        if name not in schema.names:
            raise DataError(f"{source}: missing column {name!r} (found: {', '.join(schema.names) or 'no columns'})")
        typ = schema.field(name).type
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            raise DataError(f"{source}: column {name!r} is {typ}, expected string")
    if ids.null_count:
        raise DataError(f"{source}: column 'item_id' has {ids.null_count} null value(s)")
    check_unique(pa.table({"item_id": ids}), ("item_id",), source)
    return ids


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


def embed_items_to(items: Location | pa.Table, settings: EmbedConfig, out: Location) -> EmbedReport:
    """Embed every item of ``items`` and write the embeddings Parquet folder ``out``.

    See :func:`embed_vectors_to`, which also returns the vectors.
    """
    return embed_vectors_to(items, settings, out)[0]


def embed_vectors_to(
    items: Location | pa.Table, settings: EmbedConfig, out: Location
) -> tuple[EmbedReport, np.ndarray, np.ndarray]:
    """Embed every item of ``items``, write the embeddings Parquet folder ``out``, return the vectors.

    Args:
        items: a Parquet file/folder or an Arrow table with ``item_id`` and ``text``.
        settings: encoder and Ray settings.
        out: the folder to write (it should not exist yet).

    Returns:
        ``(report, item_ids, matrix)``: the report of the run, and the ids and (rows, dim)
        float32 vectors as written.

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
        return EmbedReport(dim=dim), np.array([], dtype=object), np.zeros((0, dim), np.float32)

    blocks = -(-rows // settings.rows_per_call)
    need = autoscale.embed_need(min(settings.actors, blocks) if settings.actors else 1, settings.num_gpus)
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
            EmbedBatch,
            fn_constructor_kwargs={"encoder": settings.encoder, "token_budget": settings.token_budget,
                                   "max_batch_rows": settings.max_batch_rows, "gpu": settings.num_gpus > 0},
            batch_size=settings.rows_per_call,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
            num_gpus=settings.num_gpus or None,
        ).materialize()
        wall = time.perf_counter() - started

    blocks_out = pa.concat_tables(ray.get(embedded.to_arrow_refs()))
    stats = blocks_out.select(list(STAT_COLUMNS))
    raise_decode_errors(stats, source)
    vectors = blocks_out.select(["item_id", "embedding"])
    write_table(vectors, out, max_rows_per_file=max(settings.min_rows_per_file, 1_000_000))
    report = _report(stats, wall, actors)
    report.dim = int(vectors.schema.field("embedding").type.list_size)
    log.info("embedded %d texts in %.1fs (%.0f texts/s, %d actors)", report.rows, wall, report.texts_per_s, actors)
    ids = np.asarray(vectors.column("item_id").to_pylist(), dtype=object)
    return report, ids, matrix_of(vectors.column("embedding"), report.dim)


def raise_decode_errors(stats: pa.Table, source: str) -> None:
    """Raise DataError if the actors flagged texts they could not decode (``_error`` column)."""
    errors = pc.drop_null(stats["_error"])
    if len(errors):
        raise DataError(f"{source}: {len(errors)} text(s) could not be decoded, e.g. {errors[0].as_py()}")


def _report(stats: pa.Table, wall: float, actors: int) -> EmbedReport:
    rows = stats.num_rows
    tokens = int(pc.sum(stats["_n_tokens"]).as_py() or 0)
    workers = {}
    grouped = stats.group_by("_worker").aggregate(
        [("_busy_s", "sum"), ("_cpu_s", "sum"), ("_peak_rss_mb", "max"), ("_busy_s", "count")]
    )
    for row in grouped.to_pylist():
        workers[row["_worker"]] = {
            "rows": row["_busy_s_count"],
            "busy_s": round(row["_busy_s_sum"], 3),
            "cpu_s": round(row["_cpu_s_sum"], 3),
            "peak_rss_mb": round(row["_peak_rss_mb_max"], 1),
        }
    return EmbedReport(
        rows=rows,
        empty_texts=int(pc.sum(stats["_empty"]).as_py() or 0),
        truncated_texts=int(pc.sum(stats["_truncated"]).as_py() or 0),
        duplicate_texts=rows - len(pc.unique(stats["_text_hash"])),
        tokens=tokens,
        padded_tokens=int(pc.sum(stats["_padded_tokens"]).as_py() or 0),
        wall_s=round(wall, 3),
        texts_per_s=round(rows / wall, 1) if wall else 0.0,
        tokens_per_s=round(tokens / wall, 1) if wall else 0.0,
        actors=actors,
        workers=workers,
    )


def embed_and_index(
    items: Location | pa.Table, settings: EmbedConfig, embeddings_out: Location, index_out: Location
) -> dict:
    """Embed ``items`` into ``embeddings_out`` and build the faiss index into ``index_out``.

    Returns:
        Manifest figures: the run report, the resolved encoder settings and the index size.
    """
    started = time.perf_counter()
    report, ids, vectors = embed_vectors_to(items, settings, embeddings_out)
    EmbeddingIndex.build(ids, vectors, settings.index).save(index_out)
    spec = check_settings(settings)
    return {
        **report.as_dict(),
        "encoder": {"model_dir": spec.model_dir, **spec.key_fields()},
        "index": {"kind": settings.index.kind.value, "metric": settings.index.metric.value, "rows": len(ids)},
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
