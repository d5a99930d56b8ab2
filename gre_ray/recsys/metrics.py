"""Evaluation metrics: full-ranking NDCG@K / Recall@K / MRR, and AUC, grouped AUC, Logloss.

Full ranking (no sampled candidates; Krichene & Rendle, "On Sampled Metrics for Item
Recommendation", KDD 2020). With one held-out target per user (leave-one-out), the rank of
the target is the number of competing items that score above it:

    rank = #{i in 1..N, i not masked, i != target : s_i > s_t}            (+ ties, below)

* The user's history (all items to mask, e.g. training items, plus the validation item
  at test time) is excluded; duplicates and the target itself are ignored, so a target
  the user saw before is still ranked. Item 0 (padding) never competes.
* Ties: ``pessimistic`` (default) counts every tied competitor as above the target, so a
  degenerate model that scores everything equal gets rank N - 1 rather than 0;
  ``average`` counts half of them (the expected rank under random tie-breaking).
* Memory is bounded: scores are computed for ``user_chunk x item_chunk`` blocks and only a
  running count per user is kept, so a 1.7M-item catalogue never materialises a
  users x items matrix. :func:`naive_ranks` is the all-at-once reference.

From a 0-based rank r: NDCG@K = 1/log2(r + 2) if r < K else 0; Recall@K = HR@K = [r < K]
(one relevant item); MRR@K = 1/(r + 1) if r < K else 0 (RecBole's MRR@K); MRR = 1/(r + 1)
with no cut-off.

AUC (ties counted as one half) and Logloss come from scikit-learn;
grouped AUC is the per-user AUC weighted by the user's sample count, over users with both
labels (DIN, Zhou et al. 2018); Logloss clips probabilities to ``[eps, 1 - eps]``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from gre_ray.recsys.metric_table import KS, Ties  # noqa: F401 (KS: the default cut-offs, re-exported)

COUNT_BLOCK = 1 << 22  # entries compared at once: 4M x (1 bool + 8 int64 bytes) = 36 MiB


def _mask_entries(mask_indptr: np.ndarray, mask_items: np.ndarray, targets: np.ndarray, a: int, b: int):
    """Unique (row, item) pairs to exclude for users a..b-1 (history and target), sorted by item."""
    c = b - a
    rows = np.repeat(np.arange(c, dtype=np.int64), np.diff(mask_indptr[a : b + 1]))
    items = mask_items[mask_indptr[a] : mask_indptr[b]].astype(np.int64)
    rows = np.concatenate([rows, np.arange(c, dtype=np.int64)])
    items = np.concatenate([items, targets[a:b].astype(np.int64)])
    keys = np.unique(items * c + rows)  # sorted by item, then row
    return keys // c, keys % c


def full_ranking_ranks(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    targets: np.ndarray,
    mask_indptr: np.ndarray,
    mask_items: np.ndarray,
    *,
    user_chunk: int = 1024,
    item_chunk: int = 65536,
    ties: Ties = Ties.PESSIMISTIC,
) -> np.ndarray:
    """0-based rank of each user's target among all items, scores ``user_vecs @ item_vecs.T``.

    Args:
        user_vecs: (U, D) user representations.
        item_vecs: (N + 1, D) item representations; row 0 is padding.
        targets: (U,) target item in 1..N.
        mask_indptr: (U + 1,) CSR offsets of the items to mask per user.
        mask_items: (nnz,) items to mask.
        user_chunk: users scored at once.
        item_chunk: items scored at once; peak memory ~ user_chunk * item_chunk * 4 bytes
            of scores plus ~36 MiB of comparison temporaries.
        ties: how tied competitors count.

    Returns:
        (U,) float64 ranks (integers unless ``ties="average"``).
    """
    ties = Ties(ties)
    n_users, n_total = user_vecs.shape[0], item_vecs.shape[0]
    targets = np.asarray(targets, dtype=np.int64)
    out = np.empty(n_users, dtype=np.float64)
    device = user_vecs.device
    # one score buffer reused by every block; comparisons run on slices of ~COUNT_BLOCK entries
    width = min(item_chunk, n_total - 1)
    score_buf = torch.empty(min(user_chunk, n_users) * width, dtype=user_vecs.dtype, device=device)
    rows_per_count = max(1, COUNT_BLOCK // max(width, 1))
    for a in range(0, n_users, user_chunk):
        b = min(a + user_chunk, n_users)
        u = user_vecs[a:b]  # (c, D)
        tgt = torch.as_tensor(targets[a:b], device=item_vecs.device)
        # (c, 1) target scores from a matrix product, like the chunk scores: a row-wise
        # (u * v).sum() rounds differently and would break ties against the same item score
        t_score = (u @ item_vecs[tgt].T).diagonal().unsqueeze(1)
        m_items, m_rows = _mask_entries(mask_indptr, mask_items, targets, a, b)
        above = torch.zeros(b - a, dtype=torch.int64, device=device)  # pessimistic: >=, average: >
        equal = torch.zeros_like(above)
        for i0 in range(1, n_total, item_chunk):
            i1 = min(i0 + item_chunk, n_total)
            size = (b - a) * (i1 - i0)
            scores = torch.mm(u, item_vecs[i0:i1].T, out=score_buf[:size].view(b - a, i1 - i0))  # (c, k)
            lo, hi = np.searchsorted(m_items, [i0, i1])
            if hi > lo:
                rows = torch.as_tensor(m_rows[lo:hi], device=device)
                cols = torch.as_tensor(m_items[lo:hi] - i0, device=device)
                scores[rows, cols] = float("-inf")
            # compare and count in row slices: summing a boolean block makes an int64 copy of it
            for r0 in range(0, b - a, rows_per_count):
                r1 = min(r0 + rows_per_count, b - a)
                block, t_block = scores[r0:r1], t_score[r0:r1]
                if ties == Ties.PESSIMISTIC:  # one pass: ties count as above
                    above[r0:r1] += (block >= t_block).sum(1)
                else:
                    above[r0:r1] += (block > t_block).sum(1)
                    equal[r0:r1] += (block == t_block).sum(1)
        out[a:b] = above.cpu().numpy() + equal.cpu().numpy() / 2.0
    return out


def naive_ranks(
    scores: torch.Tensor,
    targets: np.ndarray,
    mask_indptr: np.ndarray,
    mask_items: np.ndarray,
    *,
    ties: Ties = Ties.PESSIMISTIC,
) -> np.ndarray:
    """Reference ranks from a full (U, N + 1) score matrix (memory O(U * N)).

    ``scores`` is modified in place: masked entries, the targets and column 0 become -inf.
    """
    n_users = scores.shape[0]
    users, tgt = torch.arange(n_users), torch.as_tensor(np.asarray(targets, dtype=np.int64))
    t_score = scores[users, tgt].unsqueeze(1)  # (U, 1)
    rows = torch.as_tensor(np.repeat(np.arange(n_users), np.diff(mask_indptr)))
    scores[rows, torch.as_tensor(mask_items[: mask_indptr[-1]].astype(np.int64))] = float("-inf")
    scores[users, tgt] = float("-inf")
    scores[:, 0] = float("-inf")
    greater = (scores > t_score).sum(1).numpy().astype(np.float64)
    equal = (scores == t_score).sum(1).numpy().astype(np.float64)
    return greater + (equal if Ties(ties) == Ties.PESSIMISTIC else equal / 2)


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """Mean ``ndcg@K``, ``recall@K``, ``mrr@K`` and ``mrr`` over users from 0-based target ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"recall@{k}"] = float(hit.mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean())
    out["mrr"] = float((1.0 / (ranks + 1.0)).mean())
    return out


def _group_aucs(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray):
    """Per-group AUC with average ranks for ties; returns (auc, n_samples, both_classes)."""
    order = np.lexsort((scores, groups))
    g, s, y = groups[order], scores[order], labels[order].astype(np.float64)
    n = len(g)
    idx = np.arange(n)
    new_group = np.r_[True, g[1:] != g[:-1]]
    gid = np.cumsum(new_group) - 1
    pos_in_group = idx - np.maximum.accumulate(np.where(new_group, idx, 0)) + 1.0  # 1-based
    block = np.cumsum(new_group | np.r_[True, s[1:] != s[:-1]]) - 1  # tie blocks within a group
    avg_rank = (np.bincount(block, pos_in_group) / np.bincount(block))[block]
    n_g = np.bincount(gid).astype(np.float64)
    pos_g = np.bincount(gid, y)
    neg_g = n_g - pos_g
    rank_sum = np.bincount(gid, avg_rank * y)
    both = (pos_g > 0) & (neg_g > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - pos_g * (pos_g + 1) / 2) / (pos_g * neg_g)
    return auc, n_g, both


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC with ties counted as one half (``sklearn.metrics.roc_auc_score``).

    Raises:
        ValueError: the labels contain one class only.
    """
    labels = np.asarray(labels)
    if np.unique(labels).size < 2:  # scikit-learn warns and returns NaN
        raise ValueError("AUC is undefined when the labels contain one class only")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def grouped_auc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Per-group (user) AUC averaged with weights = group sample counts, over groups with both labels.

    scikit-learn has no grouped AUC and one ``roc_auc_score`` call per user is a Python
    loop over every user, so the per-group Mann-Whitney sums are computed at once here
    (tests check each group against ``roc_auc_score``).

    Returns:
        The weighted mean, or NaN if no group has both labels.
    """
    values, weights, both = _group_aucs(
        np.asarray(labels), np.asarray(scores, dtype=np.float64), np.asarray(groups)
    )
    if not both.any():
        return float("nan")
    return float(np.average(values[both], weights=weights[both]))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy (``sklearn.metrics.log_loss``) with probabilities clipped to [eps, 1 - eps].

    The clip is done here, in float64, so it does not depend on scikit-learn's own
    (dtype-dependent) clipping.
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1.0 - eps)
    return float(sk_log_loss(np.asarray(labels, dtype=np.float64), p, labels=[0.0, 1.0]))
