"""Hard negatives: the anchor's nearest neighbours in the guide space that users never pair with it.

For contrastive fine-tuning a negative should be close to the anchor in text (hard) but not
a relation users show (a false negative would teach the model to push apart what belongs
together). A candidate neighbour is rejected when it

* is the anchor itself, or has the anchor's normalised text (a duplicate listing);
* is more similar to the anchor than ``max_sim`` (likely a near-duplicate or a positive
  the guide model already sees);
* co-occurs with the anchor in any user's whole history (not only within the counting
  window, and before the per-user cap).

The search is exact inner product (faiss ``IndexFlatIP``) over the domain's normalised
vectors; rows short of negatives are searched again with a deeper k until the pool is
exhausted. This follows the ANN-negative mining of ANCE (Xiong et al. 2021) with the
co-occurrence graph as the false-negative filter.
"""

from __future__ import annotations

import re

import faiss
import numpy as np
import scipy.sparse as sp

ANCHOR_BLOCK = 4096


def normalized_text_keys(texts: list[str] | np.ndarray) -> np.ndarray:
    """An integer per text; equal when the lowercased word sequences are equal."""
    norm = [" ".join(re.findall(r"\w+", str(t).lower())) for t in texts]
    _, keys = np.unique(np.asarray(norm, dtype=object).astype(str), return_inverse=True)
    return keys.astype(np.int64)


def hard_negatives(
    anchors: np.ndarray,
    vectors: np.ndarray,
    has_vector: np.ndarray,
    history: sp.csr_matrix,
    text_keys: np.ndarray,
    num_negatives: int,
    max_sim: float,
) -> np.ndarray:
    """Up to ``num_negatives`` hard negatives for each anchor item.

    Args:
        anchors: (A,) dense item ids (each must have a vector).
        vectors: (n_items, dim) float32 L2-normalised guide vectors (rows without a vector
            are ignored).
        has_vector: (n_items,) bool, items that have a vector (the search pool).
        history: (U, n_items) binary user × item matrix of whole histories, the
            co-occurrence relation negatives must avoid.
        text_keys: (n_items,) :func:`normalized_text_keys` of the item texts.
        num_negatives: negatives per anchor.
        max_sim: the largest anchor–negative similarity accepted.

    Returns:
        (A, num_negatives) int64 dense item ids, most similar first, -1 where the pool ran
        out of acceptable items.
    """
    out = np.full((len(anchors), num_negatives), -1, dtype=np.int64)
    pool = np.flatnonzero(has_vector)
    if num_negatives == 0 or len(anchors) == 0 or len(pool) == 0:
        return out
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors[pool], dtype=np.float32))
    history_t = history.T.tocsr()
    for lo in range(0, len(anchors), ANCHOR_BLOCK):
        block = anchors[lo : lo + ANCHOR_BLOCK]
        together = (history_t[block] @ history).tocsr()  # (B, n_items): users shared with each anchor
        out[lo : lo + len(block)] = _search_block(block, vectors, pool, index, together, text_keys, num_negatives, max_sim)
    return out


def _search_block(
    anchors: np.ndarray,
    vectors: np.ndarray,
    pool: np.ndarray,
    index: faiss.Index,
    together: sp.csr_matrix,
    text_keys: np.ndarray,
    n: int,
    max_sim: float,
) -> np.ndarray:
    out = np.full((len(anchors), n), -1, dtype=np.int64)
    pending = np.arange(len(anchors))
    k = min(len(pool), 4 * n + 16)
    while len(pending):
        sims, idx = index.search(np.ascontiguousarray(vectors[anchors[pending]], dtype=np.float32), k)
        cand = np.where(idx >= 0, pool[np.maximum(idx, 0)], -1)
        anchor = anchors[pending][:, None]
        valid = (idx >= 0) & (cand != anchor) & (sims <= max_sim)
        valid &= text_keys[np.maximum(cand, 0)] != text_keys[anchor]
        rows = np.repeat(pending, k)
        shared = np.asarray(together[rows, np.maximum(cand, 0).ravel()]).reshape(cand.shape)
        valid &= shared == 0
        order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
        chosen = np.take_along_axis(cand, order, axis=1)
        chosen[~np.take_along_axis(valid, order, axis=1)] = -1
        width = chosen.shape[1]
        out[pending, :width] = chosen
        short = (valid.sum(axis=1) < n) & (k < len(pool))
        pending = pending[short]
        k = min(len(pool), 4 * k)
    return out
