"""Collaborative pair mining (GRE step 3): co-occurrence, scores, filters and hard negatives.

Pure numpy / scipy.sparse / faiss; the ``pairs`` stage (:mod:`gre_ray.stages.pairs`) shards
the counting over Ray tasks (:mod:`gre_ray.wiring.pairs_sharded`, :mod:`gre_ray.wiring.pairs_swing`)
that call these functions, and records :mod:`gre_ray.pairs.summary`.
"""

from gre_ray.pairs.config import CoocScore, PairsConfig, ThresholdConfig, ThresholdMode
from gre_ray.pairs.cooccurrence import candidate_pairs, cooccurrence_counts, sum_counts
from gre_ray.pairs.domain import DomainItems, PreparedDomain, domain_items, prepare_domain
from gre_ray.pairs.evaluate import planted_precision
from gre_ray.pairs.mine import DomainPairs, mine_domain, select_pairs
from gre_ray.pairs.negatives import hard_negatives, normalized_text_keys
from gre_ray.pairs.scores import cosine_scores, pmi_scores, score_pairs, swing_matrix_input, swing_partial, user_weights
from gre_ray.pairs.sequences import SequenceStats, UserSequences, build_sequences, cap_sequences, item_index
from gre_ray.pairs.thresholds import ChosenThresholds, choose_thresholds, top_k_mask

__all__ = [
    "ChosenThresholds",
    "CoocScore",
    "DomainItems",
    "DomainPairs",
    "PairsConfig",
    "PreparedDomain",
    "SequenceStats",
    "ThresholdConfig",
    "ThresholdMode",
    "UserSequences",
    "build_sequences",
    "candidate_pairs",
    "cap_sequences",
    "choose_thresholds",
    "cooccurrence_counts",
    "cosine_scores",
    "domain_items",
    "hard_negatives",
    "item_index",
    "mine_domain",
    "normalized_text_keys",
    "planted_precision",
    "pmi_scores",
    "prepare_domain",
    "score_pairs",
    "select_pairs",
    "sum_counts",
    "swing_matrix_input",
    "swing_partial",
    "top_k_mask",
    "user_weights",
]
