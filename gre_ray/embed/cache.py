"""Embeddings cached by content: the same texts through the same weights are embedded once.

GRE-B embeds every benchmark dataset with every embedding model, and GRE's own stages
embed the corpus again after each training step, so vectors are worth keeping. The key
is a hash of what determines them, never a name:

* the bytes of the model's weight, config and tokenizer files
  (:func:`~gre_ray.embed.model_folder.model_fingerprint`), so a new checkpoint saved
  under an old name gets new vectors (the reference implementation reused old ones);
* pooling, normalisation, prefix, ``max_length`` and dtype, resolved from the folder;
* the (item_id, text) pairs, in id order, so reordering the items changes nothing.

Ray settings (actors, GPUs, token budget) are left out: they change speed, not vectors.
The vectors of an entry are computed by :func:`gre_ray.wiring.embed_pipeline.embed_items`.

Layout of a cache folder (local path or URI)::

    <cache_root>/<key>/embeddings/   Parquet, item_id + embedding
    <cache_root>/<key>/index/        faiss index + id order
    <cache_root>/<key>/manifest.json written last: its presence marks a complete entry
    <cache_root>/_tmp-<key>-<id>/    an entry being computed (renamed into place when complete)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.storage import Location, read_json
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.encoder import EncoderSpec
from gre_ray.embed.job import check_settings
from gre_ray.embed.model_folder import model_fingerprint

CACHE_VERSION = 1
MANIFEST = "manifest.json"


def texts_fingerprint(table: pa.Table) -> str:
    """Hash of the (item_id, text) pairs of ``table``, independent of row order (nulls hash as "")."""
    order = pc.sort_indices(table, sort_keys=[("item_id", "ascending")])
    ids = pc.take(table.column("item_id").cast(pa.binary()), order).to_pylist()
    texts = pc.take(table.column("text").cast(pa.binary()), order).to_pylist()  # bytes: nothing decoded
    digest = hashlib.sha256()
    for item_id, text in zip(ids, texts):
        digest.update(item_id + b"\0" + (text or b"") + b"\1")
    return digest.hexdigest()[:16]


def cache_key(spec: EncoderSpec, weights: str, texts: str) -> str:
    """The cache key of the vectors of texts ``texts`` under weights ``weights`` and ``spec``."""
    payload = {"version": CACHE_VERSION, "weights": weights, "texts": texts, **spec.key_fields()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def cached_entry(items: pa.Table, encoder_config: EncoderConfig, cache_root: Location,
                 settings: EmbedConfig | None = None) -> Location | None:
    """The cached embeddings folder of ``items`` under ``encoder_config`` (computed with the Ray
    ``settings``, whose GPUs decide an ``auto`` dtype), or None when not cached; reads files
    only, so a caller can tell whether Ray is needed at all."""
    spec = check_settings(replace(settings or EmbedConfig(), encoder=encoder_config))
    key = cache_key(spec, model_fingerprint(Path(spec.model_dir)), texts_fingerprint(items))
    return cache_root / key / "embeddings" if complete(cache_root / key) else None


def store_vectors(cache_root: Location, key: str, ids: list[str], matrix, extra: dict) -> Location:
    """Put vectors computed outside the encoder (precomputed files, an endpoint) into the
    cache under ``key``, all or nothing; returns the embeddings folder."""
    import uuid

    from gre_ray.data.storage import write_json, write_table
    from gre_ray.embed.vectors import embeddings_table

    entry = cache_root / key
    if complete(entry):
        return entry / "embeddings"
    tmp = cache_root / f"_tmp-{key}-{uuid.uuid4().hex[:8]}"
    try:
        write_table(embeddings_table(ids, matrix), tmp / "embeddings")
        write_json(tmp / MANIFEST, {"key": key, "rows": len(ids), "dim": int(matrix.shape[1]), **extra})
        entry.remove()
        tmp.move_to(entry)
    finally:
        tmp.remove()
    return entry / "embeddings"


def complete(entry: Location) -> bool:
    """True when the cache entry ``entry`` is complete (its manifest, written last, names its key)."""
    if not (entry / MANIFEST).exists():
        return False
    try:
        return bool(read_json(entry / MANIFEST).get("key"))
    except Exception:  # noqa: BLE001 - an unreadable manifest means an incomplete entry
        return False
