"""The held-out split of the training rows and text-to-text retrieval Recall@K on it.

The split is a hash of each row's key and the seed, so it depends neither on row order
nor on how Ray Data shards the rows; a pair and its reverse share a key (the sorted item
ids), so a held-out pair never appears reversed in training.

Recall@K (held-out pairs as retrieval): each distinct query item ``item_a`` searches the
distinct ``item_b`` texts of the held-out pairs by cosine; its relevant items are the
``item_b`` of its held-out pairs; the query item itself is excluded from its own ranking.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def unit_hash(keys: Sequence[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per key, fixed by (key, seed)."""
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") / 2**64
    return out


def pair_keys(domains: Sequence[str], items_a: Sequence[str], items_b: Sequence[str]) -> list[str]:
    """Order-free key of each pair: (a, b) and (b, a) share it."""
    return [f"{d}\0{min(a, b)}\0{max(a, b)}" for d, a, b in zip(domains, items_a, items_b)]


def heldout_mask(keys: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean (n,): True for the rows held out for evaluation."""
    return unit_hash(keys, seed) < fraction


def stable_id(texts: Sequence[str]) -> torch.Tensor:
    """(n,) int64 key of each string (for masking duplicates across workers as tensors)."""
    values = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little", signed=True) for t in texts]
    return torch.tensor(values, dtype=torch.int64)


def retrieval_task(items_a: Sequence[str], items_b: Sequence[str]) -> tuple[list[str], list[str], list[set[int]]]:
    """Queries, corpus and relevance of the held-out pairs.

    Returns:
        (query item ids, corpus item ids, for each query the set of relevant corpus indices).
    """
    corpus = sorted(set(items_b))
    where = {item: i for i, item in enumerate(corpus)}
    relevant: dict[str, set[int]] = {}
    for a, b in zip(items_a, items_b):
        relevant.setdefault(a, set()).add(where[b])
    queries = sorted(relevant)
    return queries, corpus, [relevant[q] for q in queries]


def recall_at_k(
    query_emb: Tensor, corpus_emb: Tensor, relevant: Sequence[set[int]], k: int, exclude: Sequence[int | None] = ()
) -> float:
    """Mean over queries of |top-k ∩ relevant| / min(|relevant|, k).

    Args:
        query_emb: (Q, D) L2-normalised query vectors.
        corpus_emb: (C, D) L2-normalised corpus vectors.
        relevant: per query, the relevant corpus indices.
        k: cut-off.
        exclude: per query, a corpus index to drop from its ranking (the query item itself).

    Returns:
        Recall@k in [0, 1] (0.0 with no queries).
    """
    if len(relevant) == 0:
        return 0.0
    scores = query_emb.float() @ corpus_emb.float().T  # (Q, C)
    for q, c in enumerate(exclude):
        if c is not None:
            scores[q, c] = float("-inf")
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices.tolist()  # (Q, k)
    hits = [len(set(t) & rel) / min(len(rel), k) for t, rel in zip(top, relevant)]
    return float(np.mean(hits))
