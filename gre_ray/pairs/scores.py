"""Collaborative scores of candidate item pairs: cosine, PMI and Swing.

* **cosine** (GRE's normalisation of co-occurrence, item-based CF, Sarwar et al. 2001):
  ``|U_i ∩ U_j| / sqrt(|U_i| |U_j|)``.
* **PMI** (Church & Hanks 1990): ``log(|U_i ∩ U_j| · N / (|U_i| |U_j|))`` with N the number
  of users; ``min_support`` guards it against its well-known inflation on rare pairs.
* **Swing** (Yang et al. 2020, "Large Scale Product Graph Construction for Recommendation
  in E-commerce", arXiv:2010.05525): ``Σ_{u<v ∈ U_i ∩ U_j} w_u w_v / (alpha + |I_u ∩ I_v|)``,
  user weight ``w_u = |I_u|^-power``. Two users who share little besides i and j are
  strong evidence of a relation; a tight clique of users is weak evidence.
  Deviations: each unordered user pair counts once (u ≠ v), and an item's users are
  sampled down to ``max_users_per_item`` (seeded per item), which bounds the cost; user
  weights use |I_u| of the per-user-capped sequence, before that per-item sampling.

Swing is computed from the user pairs that share at least two items: for a block of
users, ``O = X_B Xᵀ`` gives the overlaps, ``Z = X[u] ∘ X[v]`` the shared items of each pair,
and ``Zᵀ diag(c) Z`` adds ``c_uv`` to every item pair of the pair's shared items. Blocks
are disjoint sets of first users u, so a shard's partial matrix can be summed with the
others', like co-occurrence counts.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gre_ray.pairs.config import CoocScore

SWING_BLOCK_USERS = 512


def cosine_scores(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, item_users: np.ndarray) -> np.ndarray:
    """|U_i ∩ U_j| / sqrt(|U_i| |U_j|) for every pair (rows[k], cols[k])."""
    denom = np.sqrt(item_users[rows].astype(np.float64) * item_users[cols])
    return counts / denom


def pmi_scores(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, item_users: np.ndarray, n_users: int) -> np.ndarray:
    """log(|U_i ∩ U_j| N / (|U_i| |U_j|)) for every pair (natural log)."""
    return np.log(counts * float(n_users) / (item_users[rows].astype(np.float64) * item_users[cols]))


def swing_matrix_input(x: sp.csr_matrix, max_users_per_item: int, seed: int) -> sp.csr_matrix:
    """The user × item matrix Swing works on: each item's users sampled down to the cap.

    Args:
        x: (U, n_items) binary CSR user × item matrix.
        max_users_per_item: the most users kept per item.
        seed: item ``i`` samples with ``default_rng([seed, i])``.

    Returns:
        (U, n_items) binary CSR matrix, int32, a subset of ``x``'s entries.
    """
    xc = x.tocsc()
    item_users = np.diff(xc.indptr)
    popular = np.flatnonzero(item_users > max_users_per_item)
    if len(popular) == 0:
        return x.astype(np.int32)
    keep = np.ones(xc.nnz, dtype=bool)
    for i in popular:
        lo, n = int(xc.indptr[i]), int(item_users[i])
        rng = np.random.default_rng([seed, int(i)])
        drop = np.ones(n, dtype=bool)
        drop[rng.choice(n, max_users_per_item, replace=False)] = False
        keep[lo : lo + n] = ~drop
    xc = xc.copy()
    xc.data = keep.astype(np.int32)
    xc.eliminate_zeros()
    return xc.tocsr()


def swing_partial(
    x: sp.csr_matrix,
    user_weight: np.ndarray,
    alpha: float,
    users: tuple[int, int] | None = None,
    block_users: int = SWING_BLOCK_USERS,
) -> sp.csr_matrix:
    """Swing's contribution of the user pairs (u, v), u < v, whose first user u is in ``users``.

    Args:
        x: (U, n_items) binary CSR matrix from :func:`swing_matrix_input` (all users).
        user_weight: (U,) w_u.
        alpha: the smoothing term.
        users: the range [start, stop) of first users (None: all users).
        block_users: first users handled at once; bounds the transient memory.

    Returns:
        (n_items, n_items) float64 CSR matrix, strict upper triangle.
    """
    n_items = x.shape[1]
    start, stop = users if users is not None else (0, x.shape[0])
    total = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    xt = x.T.tocsr()
    for lo in range(start, stop, block_users):
        hi = min(stop, lo + block_users)
        overlap = (x[lo:hi] @ xt).tocoo()
        pu = overlap.row.astype(np.int64) + lo
        pv = overlap.col.astype(np.int64)
        keep = (pv > pu) & (overlap.data >= 2)
        if not keep.any():
            continue
        pu, pv, shared = pu[keep], pv[keep], overlap.data[keep].astype(np.float64)
        weight = user_weight[pu] * user_weight[pv] / (alpha + shared)
        common = x[pu].multiply(x[pv]).tocsr().astype(np.float64)
        scaled = common.copy()
        scaled.data *= np.repeat(weight, np.diff(scaled.indptr))
        total = total + sp.triu((common.T.tocsr() @ scaled).tocsr(), k=1, format="csr")
    return total


def user_weights(lengths: np.ndarray, power: float) -> np.ndarray:
    """Swing's user weights |I_u|^-power."""
    return np.power(np.maximum(lengths, 1).astype(np.float64), -power)


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of ``matrix`` at (rows[k], cols[k]) (0 where absent)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(matrix[rows, cols]).ravel().astype(np.float64)


def score_pairs(
    score: CoocScore,
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    item_users: np.ndarray,
    n_users: int,
    swing: sp.csr_matrix | None = None,
) -> np.ndarray:
    """The collaborative score of each candidate pair.

    Args:
        score: which score.
        rows, cols: (P,) item ids of the pairs, rows < cols.
        counts: (P,) |U_i ∩ U_j|.
        item_users: (n_items,) |U_i|.
        n_users: users with at least two items (PMI's N).
        swing: the summed Swing matrix (required for ``CoocScore.SWING``).

    Returns:
        (P,) float64 scores.
    """
    if score == CoocScore.COSINE:
        return cosine_scores(rows, cols, counts, item_users)
    if score == CoocScore.PMI:
        return pmi_scores(rows, cols, counts, item_users, n_users)
    if score == CoocScore.SWING:
        if swing is None:
            raise ValueError("score swing needs the Swing matrix")
        return lookup(swing, rows, cols)
    raise ValueError(f"unknown score {score!r}")
