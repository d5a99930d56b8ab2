"""The missing benchmark embeddings of one encoder, computed in one Ray Data job.

GRE-B embeds every benchmark dataset with every encoder. One job per dataset pays the
job's fixed costs (an actor pool started, the model loaded in every actor) once per
dataset, and a dataset smaller than one block (``rows_per_call`` rows) keeps one actor
busy while the other CPUs idle: on the demo, 12 jobs of 240 texts took about 8 s each,
mostly start-up. Here the items of every dataset still missing under an encoder go
through one job, and the vectors are split back into one cache entry per dataset under
the key :func:`gre_ray.wiring.embed_pipeline.embed_items` gives it (weights, encoder settings,
that dataset's ids and texts), so later runs and ``gre-ray bench`` find them as before.

The vectors are the same: an encoder embeds each text on its own (attention never
crosses texts), so which texts share a job or a batch changes nothing but float
rounding. The cache entries written here hold the vectors and a manifest, not a faiss
index (the benchmark reads only the vectors).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.storage import Location
from gre_ray.embed.cache import MANIFEST, cache_key, store_vectors, texts_fingerprint
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.inference import check_utf8
from gre_ray.embed.job import check_settings, read_item_ids
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.embed.vectors import read_embeddings
from gre_ray.wiring.embed_pipeline import embed_items_to

log = logging.getLogger("gre_ray")

SEP = "\x1f"  # joins a dataset's position and an item id into an id unique across datasets


def union_items(rows: dict[str, pa.Table]) -> pa.Table:
    """The items of every dataset in one table, ids prefixed by the dataset's position."""
    parts = []
    for position, table in enumerate(rows.values()):
        ids = pc.binary_join_element_wise(str(position), table.column("item_id").cast(pa.string()), SEP)
        parts.append(pa.table({"item_id": ids, "text": table.column("text").cast(pa.string())}))
    return pa.concat_tables(parts)


def embed_datasets(
    rows: dict[str, pa.Table],
    encoder: EncoderConfig,
    cache: Location,
    settings: EmbedConfig,
    ensure_ray: Callable[[], None] = lambda: None,
) -> dict[str, Location]:
    """The embeddings folder of every dataset's items under ``encoder``, from the cache or
    computed, all missing datasets in one Ray Data job.

    Args:
        rows: dataset → its items (``item_id``, ``text``; ids unique within a dataset).
        encoder: the encoder settings.
        cache: the embeddings cache folder.
        settings: Ray settings of the job (actors, GPUs); its encoder is replaced.
        ensure_ray: starts Ray; called only when some dataset's vectors are missing.

    Returns:
        dataset → the cached embeddings Parquet folder (``<cache>/<key>/embeddings``).

    Raises:
        ConfigError, DataError: a bad model, a repeated id or a text that is not UTF-8
            (naming the dataset), before any work.
    """
    settings = replace(settings, encoder=encoder)
    spec = check_settings(settings)
    weights = model_fingerprint(Path(spec.model_dir))
    texts = {d: texts_fingerprint(t) for d, t in rows.items()}
    keys = {d: cache_key(spec, weights, texts[d]) for d in rows}  # as embed_items keys them
    missing = {d: t for d, t in rows.items() if not (cache / keys[d] / MANIFEST).exists()}
    if missing:
        for dataset, table in missing.items():
            read_item_ids(table, f"items of {dataset}")
            check_utf8(table, f"items of {dataset}")
        ensure_ray()
        tmp = cache / f"_tmp-batch-{uuid.uuid4().hex[:8]}"
        try:
            report = embed_items_to(union_items(missing), settings, tmp / "embeddings")
            ids, vectors = read_embeddings(tmp / "embeddings")
            where = {item: row for row, item in enumerate(ids)}
            for position, (dataset, table) in enumerate(missing.items()):
                own = table.column("item_id").cast(pa.string()).to_pylist()
                picked = vectors[[where[f"{position}{SEP}{item}"] for item in own]]
                store_vectors(cache, keys[dataset], own, picked, {
                    "key": keys[dataset], "weights": weights, "texts": texts[dataset], "model": encoder.model,
                    "dataset": dataset, "encoder": spec.key_fields(),
                    "job": {"datasets": len(missing), "rows": report.rows, "wall_s": report.wall_s},
                })
                log.info("embeddings %s: computed (%s, one job for %d datasets)", keys[dataset], dataset,
                         len(missing))
        finally:
            tmp.remove()
    return {d: cache / keys[d] / "embeddings" for d in rows}
