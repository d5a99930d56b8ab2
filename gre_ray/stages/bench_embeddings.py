"""Item embeddings of the benchmark datasets, from the embedding stage's content-addressed cache.

:func:`gre_ray.wiring.embed_pipeline.embed_items` keys an entry by what determines its vectors (the
model's weight bytes, the resolved encoder settings, the items' ids and texts), so a new
checkpoint or a changed text gets new vectors and old ones are never reused under a name.
The benchmark asks it for every (dataset, embedding model) before the grid starts: cached
entries are read back, missing ones are computed with the embedding pipeline, once each,
every dataset an encoder misses in one job (:mod:`gre_ray.stages.bench_embed_batch`). The cache
lives in ``<run>/cache/embeddings``, beside the stages, so a forced or changed benchmark
run reuses what an earlier one computed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.data.schema import ITEMS
from gre_ray.data.shared import shared_uri
from gre_ray.data.storage import Location, fingerprint_files, read_table
from gre_ray.embed.cache import cached_entry, store_vectors, texts_fingerprint
from gre_ray.embed.config import EmbedConfig
from gre_ray.embed.endpoint import PLACEHOLDER, embed_texts, endpoint_fingerprint, without_empty
from gre_ray.embed.model_folder import model_fingerprint, resolve_model_dir
from gre_ray.embed.precomputed import read_vectors
from gre_ray.errors import ConfigError
from gre_ray.stages.bench_embed_batch import embed_datasets
from gre_ray.wiring.embed_pipeline import embed_items

log = logging.getLogger("gre_ray")
CACHE_DIR = "cache/embeddings"


def encoder_for(model: EmbeddingModel, artifacts: dict[str, Location]) -> Any:
    """The encoder settings of ``model``, with ``encoder.model`` set to its artifact's URI.

    The URI, not a driver copy, goes to the embedding actors: each resolves it on its own
    node (:mod:`gre_ray.embed.node_cache`).

    Raises:
        ConfigError: ``artifact`` names an artifact no stage of the run provides.
    """
    if not model.artifact:
        return model.encoder
    if model.artifact not in artifacts:
        raise ConfigError(
            f"benchmark.embeddings: {model.name!r} uses artifact {model.artifact!r}, which no stage of this run "
            f"provides (add stage contrastive to run.stages, or give encoder.model instead)"
        )
    return dataclasses.replace(model.encoder, model=shared_uri(artifacts[model.artifact]))


def embedding_fingerprints(config: BenchmarkConfig) -> dict[str, str]:
    """Weight fingerprints of the models named in the config (artifacts are fingerprinted
    as upstream stages)."""
    out = {}
    for m in config.embeddings:
        if m.vectors:
            out[f"embedding:{m.name}"] = fingerprint_files(Location.of(m.vectors), content=True)
        elif m.endpoint.url:
            out[f"embedding:{m.name}"] = f"{m.endpoint.url}#{m.endpoint.model}"
        elif not m.artifact:
            out[f"embedding:{m.name}"] = model_fingerprint(resolve_model_dir(m.encoder.model))
    return out


@dataclasses.dataclass(frozen=True)
class EmbeddingEntry:
    """One (dataset, embedding model)'s vectors: the cached folder's URI (trials on any node
    read it) and its content fingerprint (the cache key: weights, encoder settings and item
    texts; or the vectors file's bytes; or the endpoint, prompt and texts)."""

    uri: str
    fingerprint: str


def _embed_one(model: EmbeddingModel, encoder: Any, rows: Any, dataset: str, cache: Location,
               settings: Any, ensure_ray: Callable[[], None]) -> EmbeddingEntry:
    normalize = encoder.normalize is not False
    if model.vectors:
        ids, matrix, key = read_vectors(model.vectors, dataset, rows.column("item_id").to_pylist(),
                                        dim=encoder.dim, normalize=normalize)
        entry = store_vectors(cache, key, ids, matrix, {"source": model.vectors, "dataset": dataset})
        return EmbeddingEntry(shared_uri(entry), key)
    if model.endpoint.url:
        key = endpoint_fingerprint(model.endpoint, encoder.prefix, encoder.dim, texts_fingerprint(rows), normalize)
        if not (cache / key / "manifest.json").exists():
            texts, placeholders = without_empty([t or "" for t in rows.column("text").to_pylist()])
            if placeholders:
                log.warning("endpoint %s: %d item(s) of %s without text sent as %r", model.endpoint.model,
                            placeholders, dataset, PLACEHOLDER)
            matrix = embed_texts(model.endpoint, texts, encoder.prefix, encoder.dim, normalize)
            store_vectors(cache, key, rows.column("item_id").to_pylist(), matrix,
                          {"endpoint": model.endpoint.url, "model": model.endpoint.model, "dataset": dataset,
                           "placeholder_items": placeholders, "placeholder": PLACEHOLDER})
        return EmbeddingEntry(shared_uri(cache / key / "embeddings"), key)
    hit = cached_entry(rows, encoder, cache, settings)
    if hit is None:
        ensure_ray()
        hit = embed_items(rows, encoder, cache, settings)
    return EmbeddingEntry(shared_uri(hit), hit.parent.name)


def prepare_embeddings(
    config: BenchmarkConfig,
    items: Location,
    datasets: list[str],
    encoders: dict[str, Any],
    run_root: Location,
    ensure_ray: Callable[[], None] = lambda: None,
) -> dict[str, dict[str, EmbeddingEntry]]:
    """The embeddings of every (dataset, embedding model), computing the missing ones.

    Args:
        config: the benchmark settings (``embeddings``, ``embed_actors``, ``embed_gpus``).
        items: the items artifact.
        datasets: dataset (domain) names.
        encoders: embedding name → encoder settings (see :func:`encoder_for`).
        run_root: the run folder; the cache is ``<run_root>/cache/embeddings``.
        ensure_ray: starts Ray; called only when an encoder has vectors to compute.

    Returns:
        dataset → embedding name → the cached embeddings and their fingerprint.
    """
    out: dict[str, dict[str, EmbeddingEntry]] = {d: {} for d in datasets}
    if not config.embeddings:
        return out
    table = read_table(items, ITEMS).select(["domain", "item_id", "text"])
    settings = EmbedConfig(actors=config.embed_actors, num_gpus=config.embed_gpus)
    rows = {d: table.filter(pc.equal(table.column("domain"), d)).select(["item_id", "text"]) for d in datasets}
    for model in config.embeddings:  # each encoder embeds every dataset it misses in one job
        if not (model.vectors or model.endpoint.url):
            embed_datasets(rows, encoders[model.name], run_root / CACHE_DIR, settings, ensure_ray)
    for dataset in datasets:
        for model in config.embeddings:
            out[dataset][model.name] = _embed_one(model, encoders[model.name], rows[dataset], dataset,
                                                  run_root / CACHE_DIR, settings, ensure_ray)
    return out
