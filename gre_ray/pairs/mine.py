"""From co-occurrence counts to the pairs table of one domain, and the whole path in one process.

The filtering follows GRE's pair mining: keep the item pairs users consume together whose
collaborative score *and* text similarity under the guide model both pass a threshold,
so a pair is both a real relation and plausible as a text pair. Steps, in order:

1. candidates: i < j (each pair once) with at least ``min_support`` users;
2. pairs with an item lacking a guide vector are dropped (counted);
3. collaborative score (:mod:`~gre_ray.pairs.scores`) and text similarity (dot product
   of unit vectors);
4. per-item top-k by collaborative score (a pair survives if it is in either item's top k);
5. thresholds chosen per domain (:mod:`~gre_ray.pairs.thresholds`);
6. hard negatives for the anchor ``item_a`` (:mod:`~gre_ray.pairs.negatives`).

:func:`mine_domain` runs counting, scoring and selection in one process; the ``pairs``
stage runs the same functions with counting sharded over Ray tasks, and tests check the
two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from gre_ray.data.schema import PAIRS_SCHEMA
from gre_ray.pairs.arrays import unique_inverse
from gre_ray.pairs.config import CoocScore, PairsConfig
from gre_ray.pairs.cooccurrence import candidate_pairs, cooccurrence_counts
from gre_ray.pairs.domain import DomainItems, PreparedDomain, prepare_domain
from gre_ray.pairs.negatives import Cooccurring, SearchSettings, hard_negatives, normalized_text_keys
from gre_ray.pairs.scores import score_pairs, swing_matrix_input, swing_partial, user_weights
from gre_ray.pairs.thresholds import choose_thresholds, distribution, top_k_mask


@dataclass
class DomainPairs:
    """The mined pairs of one domain.

    Attributes:
        table: rows in ``PAIRS_SCHEMA``.
        stats: counts, chosen thresholds and score distributions, for the manifest.
        candidates: (2, P) dense ids of the pairs that passed ``min_support`` (for
            measuring how much the filters help).
        item_ids: the domain's item ids (dense id → id).
    """

    table: pa.Table
    stats: dict[str, Any]
    candidates: np.ndarray
    item_ids: np.ndarray = field(repr=False)


def swing_input(prepared: PreparedDomain, config: PairsConfig) -> tuple[sp.csr_matrix, np.ndarray]:
    """The sampled user × item matrix and the user weights Swing needs."""
    x = swing_matrix_input(prepared.sequences.user_item_matrix(), config.swing_max_users_per_item, config.seed)
    return x, user_weights(prepared.sequences.lengths, config.swing_user_power)


def pair_similarity(vectors: np.ndarray, rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Dot products ``vectors[rows[k]] · vectors[cols[k]]``, gathered in chunks to bound memory."""
    out = np.empty(len(rows), dtype=np.float64)
    for lo in range(0, len(rows), chunk):
        a, b = vectors[rows[lo : lo + chunk]], vectors[cols[lo : lo + chunk]]
        out[lo : lo + chunk] = np.einsum("ij,ij->i", a, b)
    return out


def _cooccurring(prepared: PreparedDomain, together: sp.csr_matrix, config: PairsConfig) -> Cooccurring:
    """The relation negatives avoid: whole-sequence counts plus the full histories of capped users."""
    capped = np.flatnonzero(prepared.history.lengths > config.max_items_per_user)
    extra = prepared.history.user_item_matrix()[capped] if len(capped) else None
    return Cooccurring(together, extra)


def select_pairs(
    prepared: PreparedDomain,
    counts: sp.csr_matrix,
    config: PairsConfig,
    swing: sp.csr_matrix | None = None,
    together: sp.csr_matrix | None = None,
) -> DomainPairs:
    """Score, filter and complete with hard negatives the counted pairs of one domain.

    Args:
        prepared: the domain (items, vectors, sequences).
        counts: (n, n) upper-triangular |U_i ∩ U_j| of the capped sequences.
        config: the pairs settings.
        swing: the summed Swing matrix when ``config.score`` is swing.
        together: whole-sequence counts when ``counts`` are window counts (None: ``counts``
            are whole-sequence counts); hard negatives never co-occur in them.

    Returns:
        The domain's pairs, stats and candidates.
    """
    items, seqs = prepared.items, prepared.sequences
    domain = items.domain
    rows, cols, support = candidate_pairs(counts, config.min_support)
    stats: dict[str, Any] = {
        "sequences": prepared.stats.as_dict(),
        "items": items.n_items,
        "items_without_vector": int((~items.has_vector).sum()),
        "cooccurring_pairs": int(counts.nnz),
        "support_pairs": len(rows),
    }
    candidates = np.vstack([rows, cols])
    usable = items.has_vector[rows] & items.has_vector[cols]
    stats["dropped_no_vector"] = int((~usable).sum())
    rows, cols, support = rows[usable], cols[usable], support[usable]

    score = score_pairs(config.score, rows, cols, support, seqs.item_user_counts(), seqs.n_users, swing)
    text = pair_similarity(items.vectors, rows, cols)
    top = top_k_mask(rows, cols, score, config.top_k)
    rows, cols, support, score, text = rows[top], cols[top], support[top], score[top], text[top]
    stats["candidates"] = len(rows)

    chosen = choose_thresholds(score, text, domain, config.cooc_threshold, config.text_threshold)
    keep = (score >= chosen.cooc_min) & (text >= chosen.text_min)
    stats["thresholds"] = chosen.as_dict()
    stats["kept"] = int(keep.sum())
    stats["cooc_score"] = {"candidates": distribution(score), "kept": distribution(score[keep])}
    stats["text_sim"] = {"candidates": distribution(text), "kept": distribution(text[keep])}
    stats["support_kept"] = distribution(support[keep].astype(np.float64))
    rows, cols, score, text = rows[keep], cols[keep], score[keep], text[keep]

    anchors, which = unique_inverse(rows)
    negatives = hard_negatives(
        anchors,
        items.vectors,
        items.has_vector,
        _cooccurring(prepared, counts if together is None else together, config),
        normalized_text_keys(items.texts),
        SearchSettings(
            config.num_negatives,
            config.negative_max_sim,
            config.negative_exact_max_items,
            config.negative_nprobe,
            config.seed,
        ),
    )[which]
    found = (negatives >= 0).sum(axis=1)
    stats["negatives"] = {
        "per_pair": config.num_negatives,
        "mean_found": round(float(found.mean()), 4) if len(found) else None,
        "pairs_short": int((found < config.num_negatives).sum()),
    }
    table = pairs_table(domain, items.item_ids, items.texts, rows, cols, score, text, negatives)
    return DomainPairs(table, stats, candidates, items.item_ids)


def pairs_table(
    domain: str,
    item_ids: np.ndarray,
    texts: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    score: np.ndarray,
    text: np.ndarray,
    negatives: np.ndarray,
) -> pa.Table:
    """The pairs of one domain in ``PAIRS_SCHEMA`` (negatives: the valid entries of each row)."""
    valid = negatives >= 0
    flat = negatives[valid]
    offsets = pa.array(np.r_[0, np.cumsum(valid.sum(axis=1))].astype(np.int32), pa.int32())
    neg_ids = pa.ListArray.from_arrays(offsets, pa.array(item_ids[flat].tolist(), pa.string()))
    neg_texts = pa.ListArray.from_arrays(offsets, pa.array(texts[flat].tolist(), pa.string()))
    return pa.Table.from_arrays(
        [
            pa.array([domain] * len(rows), pa.string()),
            pa.array(item_ids[rows].tolist(), pa.string()),
            pa.array(item_ids[cols].tolist(), pa.string()),
            pa.array(texts[rows].tolist(), pa.string()),
            pa.array(texts[cols].tolist(), pa.string()),
            pa.array(score.astype(np.float32), pa.float32()),
            pa.array(text.astype(np.float32), pa.float32()),
            neg_ids,
            neg_texts,
        ],
        schema=PAIRS_SCHEMA,
    )


def mine_domain(interactions: pa.Table, items: DomainItems, config: PairsConfig) -> DomainPairs:
    """Mine one domain in this process: prepare, count, score, filter, add negatives.

    Args:
        interactions: the domain's interactions (``user_id``, ``item_id``, ``timestamp``).
        items: the domain's items and guide vectors.
        config: the pairs settings.

    Returns:
        The domain's pairs.
    """
    prepared = prepare_domain(interactions, items, config)
    counts = cooccurrence_counts(prepared.sequences, config.window)
    together = cooccurrence_counts(prepared.sequences) if config.window is not None else None
    swing = None
    if config.score == CoocScore.SWING:
        x, weights = swing_input(prepared, config)
        swing = swing_partial(x, weights, config.swing_alpha)
    return select_pairs(prepared, counts, config, swing, together)

