"""What an embedding job checks before any work, and what it reports after.

The pure half of batch inference (the Ray Data half is :mod:`gre_ray.wiring.embed_pipeline`):

* :func:`check_settings` resolves the encoder and refuses settings that cannot run (half
  precision without GPUs or native bf16, OpenVINO on GPUs);
* :func:`read_item_ids` checks the items' columns and that no id repeats, reading only the
  schema and the ids;
* :func:`call_summary` sums the actors' per-row bookkeeping columns
  (:data:`~gre_ray.embed.inference.STAT_COLUMNS`) per call, and :func:`summary_error` and
  :func:`summary_report` turn the calls' summaries into a DataError or the
  :class:`EmbedReport` recorded in the manifest (:func:`raise_decode_errors` and
  :func:`run_report`: the same from per-row columns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.schema import check_unique
from gre_ray.data.storage import Location
from gre_ray.embed.config import Backend, DType, EmbedConfig
from gre_ray.embed.encoder import EncoderSpec, native_bf16, resolve_spec
from gre_ray.errors import ConfigError, DataError


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
    """Resolve the encoder and reject settings that cannot run, before any work starts.

    An ``auto`` dtype becomes ``float32`` for CPU actors; for GPU actors it stays ``auto``
    (bfloat16 or float16, chosen by each actor's GPU: :mod:`gre_ray.embed.devices`).
    """
    spec = resolve_spec(settings.encoder)
    if spec.dtype is DType.AUTO and settings.num_gpus <= 0:  # CPU actors: float32, keyed as before
        spec = replace(spec, dtype=DType.FLOAT32)
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


def raise_decode_errors(stats: pa.Table, source: str) -> None:
    """Raise DataError if the actors flagged texts they could not decode (``_error`` column)."""
    error = summary_error(call_summary(stats), source)
    if error:
        raise DataError(error)


SUMMARY_SCHEMA = pa.schema([
    ("worker", pa.string()), ("rows", pa.int64()), ("n_tokens", pa.int64()), ("padded_tokens", pa.int64()),
    ("truncated", pa.int64()), ("empty", pa.int64()), ("busy_s", pa.float64()), ("cpu_s", pa.float64()),
    ("peak_rss_mb", pa.float64()), ("errors", pa.int64()), ("first_error", pa.string()),
])


def call_summary(stats: pa.Table) -> pa.Table:
    """The actors' per-row bookkeeping columns (:data:`~gre_ray.embed.inference.STAT_COLUMNS`)
    summed per worker: one row per worker (one for an actor call), :data:`SUMMARY_SCHEMA`.

    An actor returns this instead of its rows' columns, so the driver, which owns the
    returned blocks, holds a row per call rather than per text (issue #31).
    """
    out = []
    for worker in pc.unique(stats["_worker"]).to_pylist():
        part = stats.filter(pc.equal(stats["_worker"], worker))
        errors = pc.drop_null(part["_error"])
        out.append({
            "worker": worker,
            "rows": part.num_rows,
            "n_tokens": int(pc.sum(part["_n_tokens"]).as_py() or 0),
            "padded_tokens": int(pc.sum(part["_padded_tokens"]).as_py() or 0),
            "truncated": int(pc.sum(part["_truncated"]).as_py() or 0),
            "empty": int(pc.sum(part["_empty"]).as_py() or 0),
            "busy_s": float(pc.sum(part["_busy_s"]).as_py() or 0.0),
            "cpu_s": float(pc.sum(part["_cpu_s"]).as_py() or 0.0),
            "peak_rss_mb": float(pc.max(part["_peak_rss_mb"]).as_py() or 0.0),
            "errors": len(errors),
            "first_error": errors[0].as_py() if len(errors) else None,
        })
    return pa.Table.from_pylist(out, schema=SUMMARY_SCHEMA)


def summary_error(summaries: pa.Table, source: str) -> str | None:
    """The one-line message for texts that could not be decoded, from :func:`call_summary` rows; None if none."""
    errors = int(pc.sum(summaries["errors"]).as_py() or 0)
    if not errors:
        return None
    first = pc.drop_null(summaries["first_error"])[0].as_py()
    return f"{source}: {errors} text(s) could not be decoded, e.g. {first}"


def run_report(stats: pa.Table, wall: float, actors: int) -> EmbedReport:
    """The report of a run from the per-row bookkeeping columns of the actors (:data:`STAT_COLUMNS`)."""
    return summary_report(call_summary(stats), len(pc.unique(stats["_text_hash"])), wall, actors)


def summary_report(summaries: pa.Table, distinct_texts: int, wall: float, actors: int) -> EmbedReport:
    """The report of a run from its calls' :func:`call_summary` rows and its number of distinct text hashes."""
    grouped = summaries.group_by("worker").aggregate(
        [("rows", "sum"), ("busy_s", "sum"), ("cpu_s", "sum"), ("peak_rss_mb", "max")]
    )
    workers = {}
    for row in sorted(grouped.to_pylist(), key=lambda r: r["worker"]):
        workers[row["worker"]] = {
            "rows": row["rows_sum"],
            "busy_s": round(row["busy_s_sum"], 3),
            "cpu_s": round(row["cpu_s_sum"], 3),
            "peak_rss_mb": round(row["peak_rss_mb_max"], 1),
        }

    def total(name: str) -> int:
        return int(pc.sum(summaries[name]).as_py() or 0)

    rows, tokens = total("rows"), total("n_tokens")
    return EmbedReport(
        rows=rows,
        empty_texts=total("empty"),
        truncated_texts=total("truncated"),
        duplicate_texts=rows - distinct_texts,
        tokens=tokens,
        padded_tokens=total("padded_tokens"),
        wall_s=round(wall, 3),
        texts_per_s=round(rows / wall, 1) if wall else 0.0,
        tokens_per_s=round(tokens / wall, 1) if wall else 0.0,
        actors=actors,
        workers=workers,
    )
