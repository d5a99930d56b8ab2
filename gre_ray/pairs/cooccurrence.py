"""Item–item co-occurrence counts |U_i ∩ U_j| as sparse upper-triangular matrices.

Two ways to count, both over users in blocks so the transient memory is bounded by the
block, never by the item × item square:

* whole sequences: ``Xᵀ X`` of the binary user × item matrix of the block (a sparse
  product, cost Σ_u |I_u|², bounded by the per-user cap);
* a window of W positions: for each offset d ≤ W the pairs (s[p], s[p + d]) of the same
  user, gathered into COO arrays and summed.

Sequences hold distinct items (:mod:`gre_ray.pairs.sequences`), so a user adds at most 1
to a pair in either mode. Counts of disjoint user sets add up, which is how the ``pairs``
stage shards users over Ray tasks and sums the partial matrices.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gre_ray.pairs.sequences import UserSequences

BLOCK_ROWS = 1_000_000  # sequence items per block of users
FLUSH_PAIRS = 20_000_000  # window pairs gathered before they are summed into the matrix


def cooccurrence_counts(seqs: UserSequences, window: int | None = None, block_rows: int = BLOCK_ROWS) -> sp.csr_matrix:
    """Count, for every item pair i < j, the users whose sequence holds both (within ``window``).

    Args:
        seqs: distinct-item user sequences.
        window: the largest distance in positions between the two items; None for any.
        block_rows: sequence items handled per block of users.

    Returns:
        (n_items, n_items) int32 CSR matrix holding only the strict upper triangle
        (i < j), canonical (sorted indices, no explicit zeros).
    """
    longest = int(seqs.lengths.max()) if seqs.n_users else 0
    whole = window is None or window >= longest - 1
    total = sp.csr_matrix((seqs.n_items, seqs.n_items), dtype=np.int32)
    for block in seqs.shards(block_rows) if seqs.n_users else []:
        part = _whole_sequence_counts(block) if whole else _window_counts(block, int(window))
        total = total + part
    total.sum_duplicates()
    total.eliminate_zeros()
    return total.astype(np.int32, copy=False)


def _whole_sequence_counts(seqs: UserSequences) -> sp.csr_matrix:
    x = seqs.user_item_matrix()
    gram = (x.T.tocsr() @ x).tocsr()
    return sp.triu(gram, k=1, format="csr")


def _window_counts(seqs: UserSequences, window: int) -> sp.csr_matrix:
    n = seqs.n_items
    user_of = np.repeat(np.arange(seqs.n_users), seqs.lengths)
    total = sp.csr_matrix((n, n), dtype=np.int32)
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    gathered = 0
    for d in range(1, window + 1):
        same = user_of[:-d] == user_of[d:]
        if not same.any():
            break
        a, b = seqs.items[:-d][same], seqs.items[d:][same]
        lows.append(np.minimum(a, b))
        highs.append(np.maximum(a, b))
        gathered += len(a)
        if gathered >= FLUSH_PAIRS:
            total = total + _coo_to_csr(lows, highs, n)
            lows, highs, gathered = [], [], 0
    if lows:
        total = total + _coo_to_csr(lows, highs, n)
    return total


def _coo_to_csr(lows: list[np.ndarray], highs: list[np.ndarray], n: int) -> sp.csr_matrix:
    rows, cols = np.concatenate(lows), np.concatenate(highs)
    data = np.ones(len(rows), dtype=np.int32)
    return sp.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()


def sum_counts(parts: list[sp.csr_matrix]) -> sp.csr_matrix:
    """Sum partial count matrices (of disjoint user shards) pairwise, as a balanced tree."""
    if not parts:
        raise ValueError("no partial count matrices to sum")
    parts = list(parts)
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    total = sp.csr_matrix(parts[0], copy=True)  # parts from Ray's object store are read-only
    total.sum_duplicates()
    total.eliminate_zeros()
    return total


def candidate_pairs(counts: sp.csr_matrix, min_support: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, counts) of the upper-triangular entries with at least ``min_support`` users.

    Reads the canonical CSR arrays directly, so no row index is built for the (many) pairs
    below the support.

    Returns:
        int32 item ids i < j and their int64 counts, ordered by (i, j).
    """
    counts = counts.tocsr()
    if not counts.has_canonical_format:
        counts = counts.copy()
        counts.sum_duplicates()
    kept = np.flatnonzero(counts.data >= min_support)
    rows = (np.searchsorted(counts.indptr, kept, side="right") - 1).astype(np.int32)
    return rows, counts.indices[kept].astype(np.int32), counts.data[kept].astype(np.int64)
