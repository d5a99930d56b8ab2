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

import importlib
from typing import Any

_PUBLIC = {
    "Allocation": "budget",
    "allocate": "budget",
    "BudgetConfig": "config",
    "BudgetMode": "config",
    "CoresetConfig": "config",
    "DedupScope": "config",
    "FirstCenter": "config",
    "MissingEmbedding": "config",
    "QualityConfig": "config",
    "SelectionConfig": "config",
    "SelectionMethod": "config",
    "exact_duplicate_keep": "dedup",
    "near_duplicate_keep": "dedup",
    "normalize_rows": "dedup",
    "Selection": "kcenter",
    "covering_radius": "kcenter",
    "kcenter_greedy": "kcenter",
    "kcenter_naive": "kcenter",
    "kmeans_medoids": "medoids",
    "CORPUS": "select",
    "CORPUS_SCHEMA": "select",
    "select_domain": "select",
    "kcenter_two_stage": "two_stage",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gre_ray.coreset' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gre_ray.coreset.{_PUBLIC[name]}"), name)
