"""Diversity selection within one domain, and the ``corpus`` table the stage writes.

:func:`select_domain` picks ``k`` texts of one domain from their embeddings with the
configured method: exact k-center greedy (:mod:`gre_ray.coreset.kcenter`), the two-stage
path for domains above ``max_points_per_task`` (:mod:`gre_ray.coreset.two_stage`; the Ray
stage runs its shards as separate tasks, this function runs them in turn), or k-means
medoids (:mod:`gre_ray.coreset.medoids`). Seeds derive from the run seed and the domain
name, so a domain's coreset does not depend on which other domains are present.

The ``corpus`` artifact feeds MLM pre-training: ``domain``, ``item_id``, ``text``,
``selection_order`` (0 = chosen first) and ``distance_at_selection`` (see
:class:`gre_ray.coreset.kcenter.Selection`).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from gre_ray.coreset.config import SelectionConfig, SelectionMethod
from gre_ray.coreset.kcenter import Selection, kcenter_greedy
from gre_ray.coreset.medoids import kmeans_medoids
from gre_ray.coreset.two_stage import kcenter_two_stage
from gre_ray.data.schema import Contract
from gre_ray.data.seeds import domain_seed  # noqa: F401 (the seed select_domain takes)

CORPUS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("selection_order", pa.int32(), nullable=False),
        pa.field("distance_at_selection", pa.float32()),
    ]
)
CORPUS = Contract("corpus", CORPUS_SCHEMA, unique_key=("domain", "item_id"))


def num_shards(n: int, cfg: SelectionConfig) -> int:
    """Shards of the two-stage path for a domain of ``n`` candidates (1: exact greedy)."""
    return max(1, math.ceil(n / cfg.max_points_per_task))


def select_domain(x: np.ndarray, k: int, cfg: SelectionConfig, seed: int) -> Selection:
    """Choose ``k`` rows of one domain's vectors.

    Args:
        x: (n, d) the domain's embeddings, already L2-normalised when ``cfg.normalize``.
        k: rows to choose; ``k >= n`` keeps every row in input order.
        cfg: the selection settings.
        seed: the domain's seed (:func:`domain_seed`).

    Returns:
        The selection; ``extra["path"]`` names the path taken.
    """
    if cfg.method is SelectionMethod.KMEANS_MEDOIDS:
        sel = kmeans_medoids(x, k, iterations=cfg.kmeans_iterations, seed=seed)
        path = "kmeans_medoids"
    elif num_shards(len(x), cfg) > 1:
        sel = kcenter_two_stage(
            x,
            k,
            num_shards=num_shards(len(x), cfg),
            factor=cfg.candidate_factor,
            first=cfg.first_center,
            seed=seed,
            chunk_size=cfg.chunk_size,
            block=cfg.block,
        )
        path = "kcenter_two_stage"
    else:
        sel = kcenter_greedy(x, k, first=cfg.first_center, seed=seed, chunk_size=cfg.chunk_size, block=cfg.block)
        path = "kcenter"
    if k >= len(x):
        path = "all"
    sel.extra["path"] = path
    return sel


def corpus_table(domain: str, item_ids: np.ndarray, texts: np.ndarray, sel: Selection) -> pa.Table:
    """Rows of the corpus for one domain, in selection order.

    Args:
        domain: the domain name.
        item_ids: (n,) ids of the domain's candidates, aligned with the selection's rows.
        texts: (n,) their texts.
        sel: the selection over those rows.
    """
    k = len(sel.indices)
    return pa.Table.from_arrays(
        [
            pa.array([domain] * k, pa.string()),
            pa.array(item_ids[sel.indices], pa.string()),
            pa.array(texts[sel.indices], pa.string()),
            pa.array(np.arange(k, dtype=np.int32)),
            pa.array(sel.distances.astype(np.float32)),
        ],
        schema=CORPUS_SCHEMA,
    )
