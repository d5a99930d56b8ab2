"""Evaluate a model, or the popularity baseline, on the validation or test stage of a split.

Retrieval: full ranking over the whole catalogue with the user's earlier items masked
(:func:`gre_ray.recsys.metrics.full_ranking_ranks`), chunked over users and items; with
``mask_history=False`` nothing but the target itself is left out of the competitors
(RecBole's protocol for sequential models, which ranks the user's own history too).
Ranking: AUC, user-grouped AUC and Logloss over the stage's samples.

The popularity baseline scores an item by its training count (retrieval; ties broken as
the average rank, i.e. in expectation of a random tie-break) or by its smoothed training
positive rate ``(positives + m * prior) / (samples + m)`` (ranking).
"""

from __future__ import annotations

import numpy as np
import torch

from gre_ray.recsys.batches import RetrievalBatches, concat_ranges, ranking_batches, to_tensors
from gre_ray.recsys.metrics import KS, Ties, auc, full_ranking_ranks, grouped_auc, log_loss, ranking_metrics
from gre_ray.recsys.models.base import RankingModel, RetrievalModel
from gre_ray.recsys.splits import Split, Stage

PRIOR_STRENGTH = 10.0


def _check_finite(values: torch.Tensor, what: str) -> None:
    if not torch.isfinite(values).all():
        raise FloatingPointError(f"the model produced non-finite {what}; lower the learning rate")


@torch.no_grad()
def retrieval_ranks(
    model: RetrievalModel,
    batches: RetrievalBatches,
    stage: Stage,
    *,
    device: str | torch.device = "cpu",
    user_chunk: int = 1024,
    item_chunk: int = 65536,
    ties: Ties = Ties.PESSIMISTIC,
    mask_history: bool = True,
) -> np.ndarray:
    """(U,) 0-based full-ranking rank of each user's ``stage`` target (history masked or not)."""
    model.eval()
    seq, targets, mask_indptr, mask_items = batches.evaluation(stage)
    if not mask_history:
        mask_indptr, mask_items = np.zeros_like(mask_indptr), mask_items[:0]
    item_vecs = model.item_vectors()  # (N + 1, D)
    _check_finite(item_vecs, "item vectors")
    ranks = np.empty(len(targets), dtype=np.float64)
    for a in range(0, len(targets), user_chunk):
        b = min(a + user_chunk, len(targets))
        users = model.user_vectors(torch.from_numpy(seq[a:b]).to(device))  # (c, D)
        _check_finite(users, "user vectors")
        ranks[a:b] = full_ranking_ranks(
            users,
            item_vecs,
            targets[a:b],
            mask_indptr[a : b + 1] - mask_indptr[a],
            mask_items[mask_indptr[a] : mask_indptr[b]],
            user_chunk=user_chunk,
            item_chunk=item_chunk,
            ties=ties,
        )
    return ranks


@torch.no_grad()
def ranking_logits(
    model: RankingModel,
    split: Split,
    stage: Stage,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 4096,
) -> np.ndarray:
    """(M,) logits of the samples of ``stage`` in stored order."""
    model.eval()
    out = [
        model(to_tensors(batch, device)).float().cpu().numpy()
        for batch in ranking_batches(split, stage, batch_size)
    ]
    logits = np.concatenate(out) if out else np.zeros(0, np.float32)
    if not np.isfinite(logits).all():
        raise FloatingPointError("the model produced non-finite logits; lower the learning rate")
    return logits


def ranking_scores_metrics(labels: np.ndarray, probs: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """``auc``, ``gauc`` (user-grouped) and ``logloss`` of predicted probabilities."""
    return {
        "auc": auc(labels, probs),
        "gauc": grouped_auc(labels, probs, users),
        "logloss": log_loss(labels, probs),
    }


def evaluate(
    model: RetrievalModel | RankingModel,
    split: Split,
    stage: Stage,
    *,
    batches: RetrievalBatches | None = None,
    device: str | torch.device = "cpu",
    user_chunk: int = 1024,
    item_chunk: int = 65536,
    ties: Ties = Ties.PESSIMISTIC,
    batch_size: int = 4096,
    ks: tuple[int, ...] = KS,
    mask_history: bool = True,
) -> dict[str, float]:
    """Metrics of ``model`` on ``stage``.

    Args:
        model: a trained model.
        split: the split it was trained on.
        stage: ``valid`` or ``test``.
        batches: reusable retrieval inputs (built from ``split`` when None).
        device: where the model lives.
        user_chunk, item_chunk, ties: full-ranking settings (retrieval).
        batch_size: samples scored at once (ranking).
        ks: cut-offs of NDCG, Recall and MRR.
        mask_history: leave the user's earlier items out of the ranking (retrieval).

    Returns:
        ``ndcg@K``, ``recall@K``, ``mrr@K``, ``mrr`` (retrieval) or ``auc``, ``gauc``,
        ``logloss`` (ranking).
    """
    if isinstance(model, RetrievalModel):
        batches = batches or RetrievalBatches(split)
        ranks = retrieval_ranks(
            model, batches, stage, device=device, user_chunk=user_chunk, item_chunk=item_chunk, ties=ties,
            mask_history=mask_history,
        )
        return ranking_metrics(ranks, ks)
    samples = split.samples[Stage(stage)]
    logits = ranking_logits(model, split, stage, device=device, batch_size=batch_size)
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return ranking_scores_metrics(samples.label, probs, samples.user)


def popularity_metrics(
    split: Split, stage: Stage, ks: tuple[int, ...] = KS, mask_history: bool = True
) -> dict[str, float]:
    """Metrics of the popularity baseline on ``stage`` (training data only)."""
    seq = split.sequences
    if not split.samples:  # retrieval
        batches = RetrievalBatches(split)
        _, idx = concat_ranges(*split.retrieval_window(Stage.TRAIN))
        counts = np.bincount(seq.items[idx], minlength=seq.n_items + 1)  # (N + 1,)
        _, targets, mask_indptr, mask_items = batches.evaluation(stage)
        if not mask_history:
            mask_indptr, mask_items = np.zeros_like(mask_indptr), mask_items[:0]
        item_vecs = torch.from_numpy(counts.astype(np.float32)).unsqueeze(1)  # (N + 1, 1)
        user_vecs = torch.ones(len(targets), 1)
        ranks = full_ranking_ranks(user_vecs, item_vecs, targets, mask_indptr, mask_items, ties=Ties.AVERAGE)
        return ranking_metrics(ranks, ks)
    train = split.samples[Stage.TRAIN]
    n = np.bincount(train.item, minlength=seq.n_items + 1)
    pos = np.bincount(train.item, weights=train.label, minlength=seq.n_items + 1)
    prior = float(train.label.mean())
    rate = (pos + PRIOR_STRENGTH * prior) / (n + PRIOR_STRENGTH)  # (N + 1,)
    samples = split.samples[Stage(stage)]
    return ranking_scores_metrics(samples.label, rate[samples.item], samples.user)
