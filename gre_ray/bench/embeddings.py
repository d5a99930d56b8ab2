"""Item embeddings of the benchmark datasets, from a content-addressed cache.

An entry is keyed by what determines its vectors: the model's weight fingerprint
(:func:`gre_ray.embed.model_folder.model_fingerprint`, a hash of the files' bytes), the
resolved encoder settings (:meth:`gre_ray.embed.encoder.EncoderSpec.key_fields`) and a hash
of the dataset's item ids and texts. A new checkpoint or a changed text gets a new key, so
old vectors are never reused under a name (the reference implementation's bug).

Missing entries are computed before the grid starts with the embedding stage's Ray Data
pipeline (:func:`gre_ray.embed.pipeline.embed_items_to`): one pipeline per embedding model
over every dataset it misses (ids are prefixed by the dataset's position so that equal ids
of two datasets stay apart), then written as one entry per (dataset, model).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.data.schema import ITEMS
from gre_ray.data.storage import Location, read_table, write_table
from gre_ray.errors import ConfigError

log = logging.getLogger("gre_ray")
CACHE_DIR = "cache/embeddings"
_SEP = "\x1f"


def encoder_for(model: EmbeddingModel, artifacts: dict[str, Location]):
    """The encoder settings of ``model``, with ``encoder.model`` set to its artifact's folder.

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
    from gre_ray.train.run import local_folder

    return dataclasses.replace(model.encoder, model=local_folder(artifacts[model.artifact]))


def embedding_fingerprints(config: BenchmarkConfig) -> dict[str, str]:
    """Weight fingerprints of the models named in the config (artifacts are fingerprinted
    as upstream stages)."""
    from gre_ray.embed.model_folder import model_fingerprint, resolve_model_dir

    return {f"embedding:{m.name}": model_fingerprint(resolve_model_dir(m.encoder.model))
            for m in config.embeddings if not m.artifact}


def items_digest(table: pa.Table) -> str:
    """A hash of the ``item_id`` and ``text`` columns, in row order."""
    digest = hashlib.sha256()
    for column in ("item_id", "text"):
        for value in table.column(column).to_pylist():
            digest.update(value.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:16]


def cache_key(weights: str, encoder_fields: dict, items: str) -> str:
    """The cache key of one (dataset, model) entry."""
    text = json.dumps({"weights": weights, "encoder": encoder_fields, "items": items}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def prepare_embeddings(
    config: BenchmarkConfig,
    items: Location,
    datasets: list[str],
    artifacts: dict[str, Location],
    run_root: Location,
) -> dict[str, dict[str, str]]:
    """The embeddings file of every (dataset, embedding model), computing the missing ones.

    Args:
        config: the benchmark settings (``embeddings``, ``embed_actors``, ``embed_gpus``).
        items: the items artifact.
        datasets: dataset (domain) names.
        artifacts: artifact name → location, for models given by ``artifact``.
        run_root: the run folder; the cache is ``<run_root>/cache/embeddings``.

    Returns:
        dataset → embedding name → URI of the cached embeddings folder.
    """
    from gre_ray.embed.config import EmbedConfig
    from gre_ray.embed.encoder import resolve_spec
    from gre_ray.embed.model_folder import model_fingerprint
    from gre_ray.embed.pipeline import embed_items_to

    out: dict[str, dict[str, str]] = {d: {} for d in datasets}
    if not config.embeddings:
        return out
    table = read_table(items, ITEMS).select(["domain", "item_id", "text"])
    per_dataset = {d: table.filter(pc.equal(table.column("domain"), d)).select(["item_id", "text"]) for d in datasets}
    digests = {d: items_digest(t) for d, t in per_dataset.items()}
    cache = run_root / CACHE_DIR
    encoders = {m.name: encoder_for(m, artifacts) for m in config.embeddings}  # every artifact checked first
    for model in config.embeddings:
        spec = resolve_spec(encoders[model.name])
        weights = model_fingerprint(Path(spec.model_dir))
        missing = []
        for dataset in datasets:
            entry = cache / cache_key(weights, spec.key_fields(), digests[dataset])
            out[dataset][model.name] = entry.uri
            if not entry.exists():
                missing.append((dataset, entry))
        if not missing:
            continue
        log.info("embedding %d dataset(s) with %s (%s)", len(missing), model.name, spec.model_dir)
        joined = pa.concat_tables([_prefixed(per_dataset[d], i) for i, (d, _) in enumerate(missing)])
        scratch = cache / f"_tmp-{uuid.uuid4().hex[:8]}"
        settings = EmbedConfig(encoder=encoders[model.name], actors=config.embed_actors, num_gpus=config.embed_gpus)
        try:
            embed_items_to(joined, settings, scratch)
            _write_entries(scratch, missing)
        finally:
            scratch.remove()
    return out


def _prefixed(table: pa.Table, position: int) -> pa.Table:
    ids = pc.binary_join_element_wise(pa.scalar(str(position)), table.column("item_id"), _SEP)
    return pa.table({"item_id": ids, "text": table.column("text")})


def _write_entries(scratch: Location, missing: list[tuple[str, Location]]) -> None:
    """Split the joined embeddings back into one cache entry per dataset (each written
    aside, then renamed into place)."""
    from gre_ray.embed.vectors import embeddings_table, read_embeddings

    ids, matrix = read_embeddings(scratch)
    position = np.array([int(i.split(_SEP, 1)[0]) for i in ids])
    original = np.array([i.split(_SEP, 1)[1] for i in ids], dtype=object)
    for k, (_, entry) in enumerate(missing):
        rows = np.flatnonzero(position == k)
        partial = Location(entry.fs, entry.path + ".partial")
        partial.remove()
        write_table(embeddings_table(original[rows].tolist(), matrix[rows]), partial)
        partial.move_to(entry)
