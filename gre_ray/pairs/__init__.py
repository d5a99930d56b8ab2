"""Collaborative pair mining (GRE step 3): co-occurrence, scores, filters and hard negatives.

Pure numpy / scipy.sparse / faiss; the ``pairs`` stage (:mod:`gre_ray.stages.pairs`) shards
the counting over Ray tasks (:mod:`gre_ray.wiring.pairs_sharded`, :mod:`gre_ray.wiring.pairs_swing`)
that call these functions, and records :mod:`gre_ray.pairs.summary`.
Names below resolve lazily (:mod:`gre_ray.lazy`), so loading a config (which imports
:mod:`.config`) imports neither scipy nor faiss.
"""

from __future__ import annotations

from gre_ray.lazy import lazy_exports

_HOMES = {
    "gre_ray.pairs.config": ("CoocScore", "PairsConfig", "ThresholdConfig", "ThresholdMode"),
    "gre_ray.pairs.cooccurrence": ("candidate_pairs", "cooccurrence_counts", "sum_counts"),
    "gre_ray.pairs.domain": ("DomainItems", "PreparedDomain", "domain_items", "prepare_domain"),
    "gre_ray.pairs.evaluate": ("planted_precision",),
    "gre_ray.pairs.mine": ("DomainPairs", "mine_domain", "select_pairs"),
    "gre_ray.pairs.negatives": ("hard_negatives", "normalized_text_keys"),
    "gre_ray.pairs.scores": (
        "cosine_scores", "pmi_scores", "score_pairs", "swing_matrix_input", "swing_partial", "user_weights"
    ),
    "gre_ray.pairs.sequences": ("SequenceStats", "UserSequences", "build_sequences", "cap_sequences", "item_index"),
    "gre_ray.pairs.thresholds": ("ChosenThresholds", "choose_thresholds", "top_k_mask"),
}

__getattr__, __all__ = lazy_exports(__name__, _HOMES)
