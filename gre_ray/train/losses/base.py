"""What every contrastive loss shares: its inputs, negatives gathered across workers, masks.

Negatives across workers: every worker embeds its own micro-batch, then all workers'
embeddings are gathered so each query is scored against the global batch. The gather
keeps the autograd graph (:class:`AllGatherWithGrad`: forward all-gathers, backward sums
the gradients of all workers and returns each worker its own slice), so a worker's loss
over its *local* anchors sends gradients to the embeddings of *every* worker. With the
data-parallel average of parameter gradients this equals the gradient of the mean loss
over the joined batch in one process (tested in ``tests/train/test_gather.py``). The
backward uses an all-reduce, which gloo and NCCL both support (gloo lacks reduce-scatter,
which ``torch.distributed.nn.functional.all_gather`` would use on NCCL).

False negatives: the same item can appear twice in a global batch (as the positive of one
row and the query of another, or in two rows). Its copy is no negative, so candidates
whose item id equals the anchor's query or positive id are masked (SimCSE-style in-batch
training otherwise pushes an item away from itself).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn

Embed = Callable[[dict[str, Tensor]], Tensor]  # tokenised features -> (N, D) L2-normalised vectors


@dataclass
class ContrastiveInputs:
    """Embeddings and item-id keys of one local micro-batch.

    Attributes:
        query: (B, D) L2-normalised query (``text_a``) embeddings.
        positive: (B, D) embeddings of the positives (``text_b``).
        negatives: (B, K, D) embeddings of mined hard negatives, or None.
        query_ids: (B,) int64 keys of the query items (None: no duplicate masking).
        positive_ids: (B,) int64 keys of the positive items.
        negative_ids: (B, K) int64 keys of the hard negatives.
    """

    query: Tensor
    positive: Tensor
    negatives: Tensor | None = None
    query_ids: Tensor | None = None
    positive_ids: Tensor | None = None
    negative_ids: Tensor | None = None


class AllGatherWithGrad(torch.autograd.Function):
    """All-gather of equally shaped tensors whose backward routes gradients to their owners."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # (B, ...) -> (W, B, ...)
        world = dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank = dist.get_rank()
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # (W, B, ...) -> (B, ...)
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank]


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather(tensor: Tensor | None, with_grad: bool = True) -> Tensor | None:
    """Concatenate ``tensor`` (B, ...) of every worker into (W*B, ...), rank order.

    Args:
        tensor: this worker's rows (the same shape on every worker).
        with_grad: keep gradients flowing to every worker's rows (embeddings); ids use False.

    Returns:
        The global rows (the tensor itself when not distributed).
    """
    if tensor is None:
        return None
    _, size = world()
    if size == 1:
        return tensor
    if with_grad and tensor.requires_grad:
        stacked = AllGatherWithGrad.apply(tensor)
    else:
        parts = [torch.empty_like(tensor) for _ in range(size)]
        dist.all_gather(parts, tensor.contiguous())
        stacked = torch.stack(parts)
    return stacked.reshape(size * tensor.shape[0], *tensor.shape[1:])


def same_item_mask(anchor_ids: list[Tensor | None], candidate_ids: Tensor | None) -> Tensor | None:
    """(B, N) True where candidate j is the same item as any id of anchor i.

    Args:
        anchor_ids: (B,) id tensors of each anchor (its query and its positive).
        candidate_ids: (N,) ids of the candidates.
    """
    if candidate_ids is None or not anchor_ids or any(a is None for a in anchor_ids):
        return None
    mask = torch.zeros(anchor_ids[0].shape[0], candidate_ids.shape[0], dtype=torch.bool, device=candidate_ids.device)
    for ids in anchor_ids:
        mask |= ids[:, None] == candidate_ids[None, :]
    return mask


def masked(logits: Tensor, mask: Tensor | None, keep: Tensor | None = None) -> Tensor:
    """``logits`` with masked entries at -inf, except (row, keep[row]) which stays.

    Args:
        logits: (B, N) scores.
        mask: (B, N) True where a candidate is excluded, or None.
        keep: (B,) column per row never excluded (the positive), or None.
    """
    if mask is None:
        return logits
    if keep is not None:
        mask = mask.clone()
        mask[torch.arange(mask.shape[0], device=mask.device), keep] = False
    return logits.masked_fill(mask, float("-inf"))


def diagonal_mask(rows: int, cols: int, offset: int, device: torch.device) -> Tensor:
    """(rows, cols) True at (i, offset + i): an anchor's own column in a gathered block."""
    mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    idx = torch.arange(rows, device=device)
    mask[idx, offset + idx] = True
    return mask


def either(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """Union of two optional masks."""
    if a is None:
        return b
    return a if b is None else a | b


class ContrastiveLoss(nn.Module, abc.ABC):
    """Base of the pair losses: ``forward`` embeds, ``compute_loss_from_embeddings`` scores.

    Args:
        temperature: tau; similarities are cosine / tau.
        gather_negatives: score local anchors against every worker's candidates.
        mask_duplicates: mask candidates that are the anchor's own query or positive item.
        uniformity: weight of the uniformity term (Wang & Isola 2020,
            :mod:`gre_ray.train.losses.uniformity`) over the local queries and positives
            that :meth:`forward` adds (0: none).
    """

    def __init__(
        self, temperature: float = 0.05, gather_negatives: bool = True, mask_duplicates: bool = True,
        uniformity: float = 0.0,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_negatives = gather_negatives
        self.mask_duplicates = mask_duplicates
        self.uniformity = uniformity

    def embed_inputs(self, embed: Embed, features: dict) -> ContrastiveInputs:
        """Embed a collated batch (see :meth:`gre_ray.train.tasks.contrastive.ContrastiveTask.collate`)."""
        query = embed(features["query"])  # (B, D)
        positive = embed(features["positive"])  # (B, D)
        negatives = None
        if "negatives" in features:
            k = features["negative_ids"].shape[1]
            negatives = embed(features["negatives"]).view(query.shape[0], k, -1)  # (B, K, D)
        ids = (features.get("query_ids"), features.get("positive_ids"), features.get("negative_ids"))
        return ContrastiveInputs(query, positive, negatives, *ids)

    def forward(self, embed: Embed, features: dict) -> Tensor:
        """Mean loss over the local anchors of one micro-batch (plus the weighted uniformity term)."""
        inputs = self.embed_inputs(embed, features)
        return self.compute_loss_from_embeddings(inputs) + self.uniformity_term(inputs)

    def uniformity_term(self, inputs: ContrastiveInputs) -> Tensor | float:
        """``uniformity`` times the uniformity loss of the local queries and positives (0.0 when off)."""
        if not self.uniformity:
            return 0.0
        from gre_ray.train.losses.uniformity import uniformity_loss

        return self.uniformity * uniformity_loss(torch.cat([inputs.query, inputs.positive]))

    @abc.abstractmethod
    def compute_loss_from_embeddings(self, inputs: ContrastiveInputs) -> Tensor:
        """Mean loss over the local anchors, from embeddings (each subclass's maths)."""

    def global_candidates(self, inputs: ContrastiveInputs) -> dict[str, Tensor | None]:
        """Queries, positives, negatives and their ids over all workers (or only local ones).

        Returns:
            ``q`` (N, D), ``p`` (N, D), ``n`` (N*K, D) or None, ``q_ids``, ``p_ids``,
            ``n_ids`` and ``offset``, the index of this worker's first row; N = W*B.
        """
        rank, _ = world()
        negatives, neg_ids = inputs.negatives, inputs.negative_ids
        ids = self.mask_duplicates
        return {
            "q": self._gather(inputs.query),
            "p": self._gather(inputs.positive),
            "n": self._gather(negatives.reshape(-1, negatives.shape[-1])) if negatives is not None else None,
            "q_ids": self._gather(inputs.query_ids, False) if ids else None,
            "p_ids": self._gather(inputs.positive_ids, False) if ids else None,
            "n_ids": self._gather(neg_ids.reshape(-1), False) if ids and neg_ids is not None else None,
            "offset": rank * inputs.query.shape[0] if self.gather_negatives else 0,
        }

    def _gather(self, tensor: Tensor | None, with_grad: bool = True) -> Tensor | None:
        return gather(tensor, with_grad) if self.gather_negatives else tensor

    def anchor_ids(self, inputs: ContrastiveInputs) -> list[Tensor | None]:
        """The ids a candidate must not share with an anchor (empty list: no masking)."""
        return [inputs.query_ids, inputs.positive_ids] if self.mask_duplicates else []
