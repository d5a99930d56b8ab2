"""Coreset selection for GRE's pre-training corpus (pure numpy / faiss / torch; no Ray).

Quality filters (:mod:`.quality`, :mod:`.filters`), exact and near de-duplication
(:mod:`.dedup`), per-domain budgets (:mod:`.budget`), and diversity selection by k-center
greedy (:mod:`.kcenter`, :mod:`.two_stage`) or k-means medoids (:mod:`.medoids`);
:mod:`.select` ties them to one domain; :mod:`.rounds` holds the bodies of the stage's Ray
tasks. The Ray wiring is :mod:`gre_ray.wiring.coreset_data`, called by :mod:`gre_ray.stages.coreset`.

Names below resolve lazily, so loading a config (which imports :mod:`.config`) does not
import torch or faiss.
"""

from __future__ import annotations

from gre_ray.lazy import lazy_exports

_HOMES = {
    "gre_ray.coreset.budget": ("Allocation", "allocate"),
    "gre_ray.coreset.config": (
        "BudgetConfig", "BudgetMode", "CoresetConfig", "DedupScope", "FirstCenter", "MissingEmbedding",
        "QualityConfig", "SelectionConfig", "SelectionMethod"
    ),
    "gre_ray.coreset.dedup": ("exact_duplicate_keep", "near_duplicate_keep", "normalize_rows"),
    "gre_ray.coreset.kcenter": ("Selection", "covering_radius", "kcenter_greedy", "kcenter_naive"),
    "gre_ray.coreset.medoids": ("kmeans_medoids",),
    "gre_ray.coreset.select": ("CORPUS", "CORPUS_SCHEMA", "select_domain"),
    "gre_ray.coreset.two_stage": ("kcenter_two_stage",),
}

__getattr__, __all__ = lazy_exports(__name__, _HOMES)
