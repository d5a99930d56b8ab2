"""Bidirectional InfoNCE with in-batch negatives.

InfoNCE (van den Oord, Li & Vinyals 2018, "Representation Learning with Contrastive
Predictive Coding") scores each query against its positive and the other positives of the
batch; the symmetric form averages the query-to-passage and passage-to-query directions,
as CLIP does for images and texts (Radford et al. 2021, "Learning Transferable Visual
Models From Natural Language Supervision"). Item pairs have no direction (a tent predicts
a sleeping bag as much as the reverse), so both directions train the same encoder.

For local anchor i (global index o + i, o = this worker's offset), with s the cosine:

    L_qp(i) = -log  exp(s(q_i, p_i)/t) / sum_{c in P u N} exp(s(q_i, c)/t)
    L_pq(i) = -log  exp(s(p_i, q_i)/t) / sum_{j} exp(s(p_i, q_j)/t)
    L = mean_i (L_qp(i) + L_pq(i)) / 2

P and Q are the positives and queries of the global batch, N the optional hard negatives
(query direction only). Candidates that are the same item as the anchor's query or
positive, other than the positive itself, are masked (see :mod:`.base`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gre_ray.train.losses.base import ContrastiveInputs, ContrastiveLoss, masked, same_item_mask


class BidirectionalInfoNCELoss(ContrastiveLoss):
    """Symmetric InfoNCE over the global batch (see the module docstring).

    Args:
        temperature: tau.
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
        b = q.shape[0]
        labels = g["offset"] + torch.arange(b, device=q.device)  # (B,) column of each positive
        anchors = self.anchor_ids(inputs)

        candidates = g["p"] if g["n"] is None else torch.cat([g["p"], g["n"]])  # (N [+ N*K], D)
        cand_ids = g["p_ids"] if g["n"] is None or g["p_ids"] is None else torch.cat([g["p_ids"], g["n_ids"]])
        logits_qp = q @ candidates.float().T / self.temperature  # (B, N [+ N*K])
        logits_qp = masked(logits_qp, same_item_mask(anchors, cand_ids), keep=labels)

        logits_pq = p @ g["q"].float().T / self.temperature  # (B, N)
        logits_pq = masked(logits_pq, same_item_mask(anchors, g["q_ids"]), keep=labels)

        return (F.cross_entropy(logits_qp, labels) + F.cross_entropy(logits_pq, labels)) / 2
