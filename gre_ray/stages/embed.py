"""Stage ``embed``: embed every item on a Ray Data actor pool and index the vectors with faiss.

Artifacts: ``embeddings`` (Parquet: ``item_id``, ``embedding`` as
``fixed_size_list<float32>[dim]``, one file per index shard) and ``index`` (one faiss index
per shard of at most ``index.shard_rows`` rows, read by :class:`gre_ray.embed.shards.ShardedIndex`).
No process holds every vector (:mod:`gre_ray.wiring.embed_pipeline`). The
model's weights are an external input fingerprinted by content, so saving a new
checkpoint under the same path reruns the stage. The manifest records rows, empty,
truncated and duplicate texts, tokens, throughput and each actor's peak memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gre_ray.embed.config import EmbedConfig
from gre_ray.errors import ConfigError
from gre_ray.embed.model_folder import model_fingerprint, resolve_model_dir
from gre_ray.wiring.embed_pipeline import embed_and_index
from gre_ray.runner.resources import Need, embed_need
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register


@register
class EmbedStage(Stage):
    name = "embed"
    provides = ("embeddings", "index")
    requires = ("items",)
    uses_ray = True
    speed_settings = ("actors", "num_gpus", "token_budget", "max_batch_rows", "rows_per_call", "min_rows_per_file")

    def external_inputs(self, config: Any) -> dict[str, str]:
        settings: EmbedConfig = config.embed
        try:
            folder = resolve_model_dir(settings.encoder.model)
        except ConfigError as exc:
            raise ConfigError(f"embed.{exc}") from None  # the message names encoder.model
        return {"model_weights": model_fingerprint(folder)}

    def needs(self, config: Any) -> list[Need]:
        settings: EmbedConfig = config.embed
        return [embed_need(settings.actors or 1, settings.num_gpus, dtype=settings.encoder.dtype)]

    def run(self, ctx: StageContext) -> None:
        settings: EmbedConfig = ctx.settings
        figures = embed_and_index(ctx.input("items"), settings, ctx.out("embeddings"), ctx.out("index"))
        ctx.count(rows_in=figures["rows"], rows_out=figures["rows"])
        ctx.stats.update(figures)
        if figures["empty_texts"]:
            ctx.warn(f"embed: {figures['empty_texts']} empty text(s) embedded as the bare prefix")
        if figures["truncated_texts"]:
            limit = figures["encoder"]["max_length"]
            ctx.warn(f"embed: {figures['truncated_texts']} text(s) truncated to {limit} tokens")

    def summarize(self, manifest: dict) -> list[str]:
        s = manifest.get("stats", {})
        encoder = s.get("encoder", {})
        model = manifest.get("settings", {}).get("encoder", {}).get("model") or Path(encoder.get("model_dir", "?")).name
        peak = max((w["peak_rss_mb"] for w in s.get("workers", {}).values()), default=0.0)
        return [
            f"{s.get('rows', 0):,} items -> {s.get('dim', 0)}-d vectors "
            f"({model}, {encoder.get('pooling', '?')} pooling)",
            f"empty {s.get('empty_texts', 0):,}, truncated {s.get('truncated_texts', 0):,}, "
            f"duplicate texts {s.get('duplicate_texts', 0):,}",
            f"{s.get('texts_per_s', 0):,.0f} texts/s, {s.get('tokens_per_s', 0):,.0f} tokens/s on {s.get('actors', 0)} "
            f"actor(s), peak {peak:,.0f} MB per actor; index {s.get('index', {}).get('kind', '?')} "
            f"in {s.get('index', {}).get('shards', 1)} shard(s)",
        ]
