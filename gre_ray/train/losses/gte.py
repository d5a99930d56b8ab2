"""GTE's improved contrastive loss: queries and passages both serve as negatives.

Li, Zhang, Zhang, Long, Xie & Zhang 2023, "Towards General Text Embeddings with
Multi-stage Contrastive Learning" (GTE), eq. 3: the partition function of anchor i sums
four kinds of candidates, so every text of the batch is a negative in both roles:

    Z_i = sum_j exp(s(q_i, p_j)/t) + sum_{j != i} exp(s(q_i, q_j)/t)
        + sum_{j != i} exp(s(q_j, p_i)/t) + sum_{j != i} exp(s(p_j, p_i)/t)
    L = -mean_i log( exp(s(q_i, p_i)/t) / Z_i )

Deviation: the paper writes the third sum over all j, which counts the positive
s(q_i, p_i) a second time at j = i; here the positive enters Z_i once. The
self-similarities s(q_i, q_i) and s(p_i, p_i) (the diagonals) are masked, as the paper's
j != i intends. Optional hard negatives join the first sum; same-item duplicates of the
anchor's query or positive are masked in every block (see :mod:`.base`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gre_ray.train.losses.base import (
    ContrastiveInputs,
    ContrastiveLoss,
    diagonal_mask,
    either,
    masked,
    same_item_mask,
)


class GTEInfoNCELoss(ContrastiveLoss):
    """Improved contrastive loss of GTE over the global batch (see the module docstring).

    Args:
        temperature: tau (GTE uses 0.01 in pre-training and 0.05 fine-tuning is common).
        gather_negatives: use every worker's rows as candidates.
        mask_duplicates: mask candidates that are the anchor's own items.
    """

    def compute_loss_from_embeddings(self, inputs: ContrastiveInputs) -> Tensor:
        """Mean loss over the B local anchors.

        Args:
            inputs: (B, D) queries and positives, optional (B, K, D) negatives and ids.

        Returns:
            A scalar tensor.
        """
        g = self.global_candidates(inputs)
        q, p = inputs.query.float(), inputs.positive.float()  # (B, D)
        all_q, all_p = g["q"].float(), g["p"].float()  # (N, D)
        b, n, offset = q.shape[0], all_q.shape[0], g["offset"]
        labels = offset + torch.arange(b, device=q.device)  # (B,)
        anchors = self.anchor_ids(inputs)
        own = diagonal_mask(b, n, offset, q.device)  # (B, N) anchor's own column

        qp = masked(q @ all_p.T, same_item_mask(anchors, g["p_ids"]), keep=labels)  # (B, N) s(q_i, p_j)
        qq = masked(q @ all_q.T, either(own, same_item_mask(anchors, g["q_ids"])))  # (B, N) s(q_i, q_j)
        pq = masked(p @ all_q.T, either(own, same_item_mask(anchors, g["q_ids"])))  # (B, N) s(q_j, p_i)
        pp = masked(p @ all_p.T, either(own, same_item_mask(anchors, g["p_ids"])))  # (B, N) s(p_j, p_i)
        blocks = [qp, qq, pq, pp]
        if g["n"] is not None:
            blocks.append(masked(q @ g["n"].float().T, same_item_mask(anchors, g["n_ids"])))  # (B, N*K)
        logits = torch.cat(blocks, dim=1) / self.temperature  # (B, 4N [+ N*K]); positive at column o + i
        return F.cross_entropy(logits, labels)
