"""GISTEmbed: a guide model removes in-batch negatives that are likely false negatives.

Solatorio 2024, "GISTEmbed: Guided In-sample Selection of Training Negatives for Text
Embedding Fine-tuning". A frozen guide model scores the same candidates as the trained
model; a candidate that the guide rates *more* similar to the anchor than the anchor's
own positive is probably a positive too (two tents of one brand for a tent query), so it
is masked instead of pushed away:

    mask(i, c) = g(a_i, c) > g(q_i, p_i)            (g: the guide's cosine)
    L = -mean_i log( exp(s(q_i, p_i)/t) / sum_{c unmasked} exp(s(a_i, c)/t) )

The candidates of anchor i follow the paper's reference implementation: the positives
(q_i vs p_j), the other queries (q_i vs q_j), the other positives (p_i vs p_j) and the
optional hard negatives (q_i vs n); a_i is q_i or p_i accordingly. Diagonals and same-item
duplicates are masked as in :mod:`.base`. The guide needs the same inputs as the model,
computed without gradients: :meth:`GISTLoss.forward` embeds ``features["guide"]`` (the
same texts tokenised for the guide) with the guide, or ``features`` when absent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gre_ray.train.losses.base import (
    ContrastiveInputs,
    ContrastiveLoss,
    Embed,
    diagonal_mask,
    either,
    masked,
    same_item_mask,
)


class GISTLoss(ContrastiveLoss):
    """Guided in-batch negatives (see the module docstring).

    Args:
        guide: embeds tokenised features with the frozen guide model; None is allowed
            only for :meth:`compute_loss_from_embeddings` with explicit guide inputs.
        temperature: tau (the paper uses 0.01).
        gather_negatives: use every worker's rows as candidates.
        mask_duplicates: mask candidates that are the anchor's own items.
    """

    def __init__(
        self,
        guide: Embed | None = None,
        temperature: float = 0.05,
        gather_negatives: bool = True,
        mask_duplicates: bool = True,
        uniformity: float = 0.0,
    ) -> None:
        super().__init__(temperature, gather_negatives, mask_duplicates, uniformity)
        self.guide = guide

    def forward(self, embed: Embed, features: dict) -> Tensor:
        """Mean loss over the local anchors, with guide embeddings of the same batch."""
        if self.guide is None:
            raise ValueError("GISTLoss.forward needs a guide embedder")
        with torch.no_grad():
            guide_inputs = self.embed_inputs(self.guide, features.get("guide", features))
        inputs = self.embed_inputs(embed, features)
        return self.compute_loss_from_embeddings(inputs, guide_inputs) + self.uniformity_term(inputs)

    def compute_loss_from_embeddings(self, inputs: ContrastiveInputs, guide: ContrastiveInputs | None = None) -> Tensor:
        """Mean loss over the B local anchors.

        Args:
            inputs: the trained model's (B, D) queries and positives, optional (B, K, D)
                negatives and ids.
            guide: the guide model's embeddings of the same texts (same shapes).

        Returns:
            A scalar tensor.
        """
        if guide is None:
            raise ValueError("GISTLoss needs the guide model's embeddings")
        g, h = self.global_candidates(inputs), self.global_candidates(guide)
        q, p = inputs.query.float(), inputs.positive.float()  # (B, D)
        gq, gp = guide.query.float(), guide.positive.float()  # (B, D') guide space
        b, n, offset = q.shape[0], g["q"].shape[0], g["offset"]
        labels = offset + torch.arange(b, device=q.device)  # (B,)
        anchors = self.anchor_ids(inputs)
        own = diagonal_mask(b, n, offset, q.device)  # (B, N)
        threshold = (gq * gp).sum(-1, keepdim=True)  # (B, 1) guide's s(q_i, p_i)

        def block(anchor: Tensor, cands: Tensor, g_anchor: Tensor, g_cands: Tensor, base_mask, keep=None) -> Tensor:
            guided = g_anchor @ g_cands.float().T > threshold  # (B, C) rated above the positive
            return masked(anchor @ cands.float().T, either(guided, base_mask), keep=keep)

        blocks = [
            block(q, g["p"], gq, h["p"], same_item_mask(anchors, g["p_ids"]), keep=labels),  # (B, N)
            block(q, g["q"], gq, h["q"], either(own, same_item_mask(anchors, g["q_ids"]))),  # (B, N)
            block(p, g["p"], gp, h["p"], either(own, same_item_mask(anchors, g["p_ids"]))),  # (B, N)
        ]
        if g["n"] is not None:
            blocks.append(block(q, g["n"], gq, h["n"], same_item_mask(anchors, g["n_ids"])))  # (B, N*K)
        logits = torch.cat(blocks, dim=1) / self.temperature  # positive at column o + i
        return F.cross_entropy(logits, labels)
