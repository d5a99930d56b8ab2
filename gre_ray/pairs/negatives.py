"""Hard negatives: the anchor's nearest neighbours in the guide space that users never pair with it.

For contrastive fine-tuning a negative should be close to the anchor in text (hard) but not
a relation users show (a false negative would teach the model to push apart what belongs
together). A candidate neighbour is rejected when it

* is the anchor itself, or has the anchor's normalised text (a duplicate listing);
* is more similar to the anchor than ``max_sim`` (likely a near-duplicate or a positive
  the guide model already sees);
* shares a user with the anchor anywhere in a history (not only within the counting
  window; a capped user's whole history counts, not only its sample).

The search is inner product over the domain's unit vectors, through the embedding stage's
faiss wrapper (:class:`gre_ray.embed.index.EmbeddingIndex`): exact (flat) up to
``exact_max_items`` items, approximate beyond (IVF, nlist = 2·sqrt(n) trained on 40·nlist
sampled vectors, ``nprobe`` lists searched). One index per domain: the ``index``
artifact covers every domain, and a negative must come from the anchor's domain.
Anchors short of negatives are searched again with a deeper k until the pool is exhausted.
This is the ANN negative mining of ANCE (Xiong et al. 2021) with the co-occurrence graph as
the false-negative filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sp

from gre_ray.embed.index import EmbeddingIndex, IndexConfig, IndexKind, Metric
from gre_ray.pairs.arrays import unique_inverse

ANCHOR_BLOCK = 4096


def normalized_text_keys(texts: list[str] | np.ndarray) -> np.ndarray:
    """An integer per text; equal when the lowercased word sequences are equal."""
    norm = [" ".join(re.findall(r"\w+", str(t).lower())) for t in texts]
    _, keys = unique_inverse(np.asarray(norm, dtype=str))
    return keys


class Cooccurring:
    """Do items a and b share a user? A co-occurrence matrix plus the histories it did not see.

    Args:
        together: (n, n) upper-triangular matrix (i < j) whose non-zeros are the
            co-occurring pairs; looked up in place, never expanded.
        extra_history: (H, n) binary user × item rows of histories that ``together`` did
            not see in full (users whose history was capped); None when there are none.
    """

    def __init__(self, together: sp.spmatrix, extra_history: sp.csr_matrix | None = None) -> None:
        self.together = together.tocsr()
        if not self.together.has_canonical_format:
            self.together = self.together.copy()
            self.together.sum_duplicates()
        self.extra = extra_history if extra_history is not None and extra_history.nnz else None
        self.extra_t = self.extra.T.tocsr() if self.extra is not None else None

    def test(self, anchors: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """(m, k) bool: does ``cands[r, c]`` share a user with ``anchors[r]``? (-1 entries: False)"""
        valid = cands >= 0
        a = np.broadcast_to(anchors[:, None], cands.shape)[valid]
        c = cands[valid]
        lo, hi = np.minimum(a, c), np.maximum(a, c)
        hit = np.asarray(self.together[lo, hi]).ravel() != 0 if len(lo) else np.zeros(0, dtype=bool)
        hit &= lo != hi
        if self.extra is not None:
            shared = (self.extra_t[anchors] @ self.extra).tocsr()  # (m, n) users in common
            rows = np.broadcast_to(np.arange(len(anchors))[:, None], cands.shape)[valid]
            hit |= np.asarray(shared[rows, c]).ravel() > 0
        out = np.zeros(cands.shape, dtype=bool)
        out[valid] = hit
        return out


@dataclass(frozen=True)
class SearchSettings:
    """How negatives are searched.

    Attributes:
        num_negatives: negatives per anchor.
        max_sim: the largest anchor–negative similarity accepted.
        exact_max_items: exact search up to this many items, IVF beyond.
        nprobe: IVF lists searched per query.
        seed: seed of the IVF training sample and k-means.
    """

    num_negatives: int
    max_sim: float
    exact_max_items: int = 100_000
    nprobe: int = 8
    seed: int = 0


def build_index(vectors: np.ndarray, settings: SearchSettings) -> EmbeddingIndex:
    """An inner-product index over ``vectors`` whose item ids are the row positions.

    Exact (flat) up to ``settings.exact_max_items`` rows; beyond, IVF with nlist = 2·sqrt(n)
    trained on a seeded sample of 40·nlist rows (training on every row, as
    :meth:`EmbeddingIndex.build` does, costs minutes for a few hundred thousand items).
    The index is wrapped in :class:`gre_ray.embed.index.EmbeddingIndex`, which searches on
    GPUs when faiss sees any.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    positions = np.arange(n, dtype=np.int64)
    if n <= settings.exact_max_items:
        return EmbeddingIndex.build(positions, vectors, IndexConfig(kind=IndexKind.FLAT, metric=Metric.INNER_PRODUCT))
    nlist = int(2 * np.sqrt(n))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = settings.seed
    sample = np.random.default_rng(settings.seed).choice(n, min(n, 40 * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    config = IndexConfig(kind=IndexKind.IVF, metric=Metric.INNER_PRODUCT, nlist=nlist, nprobe=settings.nprobe)
    return EmbeddingIndex(index, positions, config)


def hard_negatives(
    anchors: np.ndarray,
    vectors: np.ndarray,
    has_vector: np.ndarray,
    cooccurring: Cooccurring,
    text_keys: np.ndarray,
    settings: SearchSettings,
) -> np.ndarray:
    """Up to ``settings.num_negatives`` hard negatives for each anchor item.

    Args:
        anchors: (A,) dense item ids (each must have a vector).
        vectors: (n_items, dim) float32 unit guide vectors (rows without a vector ignored).
        has_vector: (n_items,) bool, the items that may be negatives.
        cooccurring: the co-occurrence relation negatives must avoid.
        text_keys: (n_items,) :func:`normalized_text_keys` of the item texts.
        settings: how many, how similar at most, and how to search.

    Returns:
        (A, num_negatives) int64 dense item ids, most similar first, -1 where the pool ran
        out of acceptable items.
    """
    n = settings.num_negatives
    out = np.full((len(anchors), n), -1, dtype=np.int64)
    pool = np.flatnonzero(has_vector)
    if n == 0 or len(anchors) == 0 or len(pool) == 0:
        return out
    index = build_index(vectors[pool], settings)
    for lo in range(0, len(anchors), ANCHOR_BLOCK):
        block = np.asarray(anchors[lo : lo + ANCHOR_BLOCK], dtype=np.int64)
        out[lo : lo + len(block)] = _search_block(block, vectors, pool, index, cooccurring, text_keys, settings)
    return out


def _search_block(
    anchors: np.ndarray,
    vectors: np.ndarray,
    pool: np.ndarray,
    index: EmbeddingIndex,
    cooccurring: Cooccurring,
    text_keys: np.ndarray,
    settings: SearchSettings,
) -> np.ndarray:
    n = settings.num_negatives
    out = np.full((len(anchors), n), -1, dtype=np.int64)
    pending = np.arange(len(anchors))
    k = min(len(pool), 4 * n + 16)
    while len(pending):
        found, sims = index.search(vectors[anchors[pending]], k)
        idx = np.where(np.equal(found, None), -1, found).astype(np.int64)  # None: an IVF row short of k
        cand = np.where(idx >= 0, pool[np.maximum(idx, 0)], -1)
        anchor = anchors[pending][:, None]
        valid = (cand >= 0) & (cand != anchor) & (sims <= settings.max_sim)
        valid &= text_keys[np.maximum(cand, 0)] != text_keys[anchor]
        valid &= ~cooccurring.test(anchors[pending], cand)
        order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
        chosen = np.take_along_axis(cand, order, axis=1)
        chosen[~np.take_along_axis(valid, order, axis=1)] = -1
        out[pending, : chosen.shape[1]] = chosen
        short = (valid.sum(axis=1) < n) & (k < len(pool))
        pending = pending[short]
        k = min(len(pool), 4 * k)
    return out
