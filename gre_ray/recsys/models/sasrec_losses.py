"""SASRec's softmax losses over the catalogue or a sample of it, on flat training positions.

* :func:`chunked_cross_entropy` — the full softmax over every item (Klenitskiy & Vasilev,
  RecSys 2023), computed ``chunk`` positions at a time: the forward pass keeps only each
  position's log-sum-exp, the backward pass recomputes one chunk's logits at a time, so
  memory is ``O(chunk x N)`` instead of ``O(P x N)``. Equal to ``F.cross_entropy`` over the
  whole logits up to float rounding.
* :func:`shared_softmax_loss` — sampled softmax over K negatives shared by every position of
  the batch, drawn from a proposal Q, each logit corrected by ``-log(K Q(item))``, the logQ
  correction of Bengio & Senécal (2008) and Jean et al. (ACL 2015) that makes the sampled
  softmax a consistent estimate of the full one; a negative equal to the position's
  positive is masked ("accidental hit").
* :func:`mixed_softmax_loss` — mixed negative sampling (Yang et al., WWW 2020): the batch's
  own targets (in-batch negatives, drawn in proportion to popularity, corrected by
  ``-log(P p(item))`` as in Yi et al., RecSys 2019) together with K uniform negatives
  (corrected by ``-log(K / N)``).

All take the hidden states of the trained positions only: ``hidden`` (P, D).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MASKED = float("-inf")


class _ChunkedCE(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T`` (column 0, the padding item, excluded)."""

    @staticmethod
    def forward(ctx, hidden, weight, target, chunk):  # hidden (P, D), weight (N + 1, D), target (P,)
        lse = torch.empty(len(hidden), dtype=hidden.dtype, device=hidden.device)
        total = hidden.new_zeros(())
        for a in range(0, len(hidden), chunk):
            logits = hidden[a : a + chunk] @ weight.T  # (c, N + 1)
            logits[:, 0] = MASKED
            lse[a : a + chunk] = torch.logsumexp(logits, dim=1)
            picked = logits.gather(1, target[a : a + chunk, None]).squeeze(1)
            total = total + (lse[a : a + chunk] - picked).sum()
        ctx.save_for_backward(hidden, weight, target, lse)
        ctx.chunk = chunk
        return total / len(hidden)

    @staticmethod
    def backward(ctx, grad):
        hidden, weight, target, lse = ctx.saved_tensors
        scale = grad / len(hidden)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        for a in range(0, len(hidden), ctx.chunk):
            h = hidden[a : a + ctx.chunk]
            logits = h @ weight.T  # (c, N + 1), recomputed
            logits[:, 0] = MASKED
            g = torch.exp(logits - lse[a : a + ctx.chunk, None])  # softmax
            g[torch.arange(len(h), device=h.device), target[a : a + ctx.chunk]] -= 1.0
            g *= scale
            grad_hidden[a : a + ctx.chunk] = g @ weight
            grad_weight += g.T @ h
        return grad_hidden, grad_weight, None, None


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, chunk: int) -> torch.Tensor:
    """Full-catalogue cross-entropy ``chunk`` positions at a time.

    Args:
        hidden: (P, D) hidden states.
        weight: (N + 1, D) item vectors, row 0 the padding item (never a class).
        target: (P,) target items in 1..N.
        chunk: positions whose logits are held at once.

    Returns:
        The mean loss, a scalar with gradients for ``hidden`` and ``weight``.
    """
    return _ChunkedCE.apply(hidden, weight, target, max(1, int(chunk)))


def full_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The whole ``(P, N + 1)`` logits at once (the plain path; padding column masked)."""
    logits = hidden @ weight.T  # (P, N + 1)
    logits[:, 0] = MASKED
    return F.cross_entropy(logits, target)


def shared_softmax_loss(
    hidden: torch.Tensor, pos_vec: torch.Tensor, pos_logq: torch.Tensor, target: torch.Tensor,
    cand_vec: torch.Tensor, cand: torch.Tensor, cand_logq: torch.Tensor,
) -> torch.Tensor:
    """Sampled softmax with K negatives shared by the batch, logQ-corrected.

    Args:
        hidden: (P, D) hidden states; pos_vec (P, D) the positives' vectors.
        pos_logq: (P,) ``log(K Q(positive))``; target (P,) the positives' ids.
        cand_vec: (K, D) the negatives' vectors; cand (K,) their ids.
        cand_logq: (K,) ``log(K Q(negative))``.
    """
    pos_logit = (hidden * pos_vec).sum(-1) - pos_logq  # (P,)
    neg_logit = hidden @ cand_vec.T - cand_logq  # (P, K)
    neg_logit = neg_logit.masked_fill(cand[None, :] == target[:, None], MASKED)
    logits = torch.cat([pos_logit[:, None], neg_logit], dim=1)  # (P, 1 + K)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def mixed_softmax_loss(
    hidden: torch.Tensor, target: torch.Tensor, target_logp: torch.Tensor, item_vectors,
    cand: torch.Tensor, n_items: int,
) -> torch.Tensor:
    """In-batch targets plus K uniform negatives (mixed negative sampling), logQ-corrected.

    Args:
        hidden: (P, D) hidden states; target (P,) their targets.
        target_logp: (P,) log popularity share of each target (how likely an in-batch draw is it).
        item_vectors: callable ids -> (., D) vectors.
        cand: (K,) uniform negatives; n_items: the catalogue size N.
    """
    items, inverse = torch.unique(target, return_inverse=True)  # (M,), (P,)
    first = torch.full((len(items),), len(target), dtype=torch.long, device=target.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(target), device=target.device), reduce="amin")
    in_batch_logq = target_logp[first] + math.log(len(target))  # (M,) log(P p)
    batch_logit = hidden @ item_vectors(items).T - in_batch_logq  # (P, M)
    uni_logit = hidden @ item_vectors(cand).T - math.log(len(cand) / n_items)  # (P, K)
    uni_logit = uni_logit.masked_fill(cand[None, :] == target[:, None], MASKED)
    logits = torch.cat([batch_logit, uni_logit], dim=1)  # (P, M + K)
    return F.cross_entropy(logits, inverse)
