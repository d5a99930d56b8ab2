"""DSSM two-tower retrieval (Huang et al., "Learning Deep Structured Semantic Models for Web
Search using Clickthrough Data", CIKM 2013), in its recommendation form: the user tower
is an MLP over the mean-pooled embeddings of the user's history, the item tower an MLP
over the item embedding; the score is their dot product or cosine.

Training uses every position of the training sequence: the user vector at position t
pools items 0..t (a running mean) and predicts item t + 1, so one pass over a sequence
trains all its prefixes. Negatives (``DSSMNegatives``):

* ``sampled`` — softmax over the positive and ``n_negatives`` sampled items (the paper
  samples 4 unclicked documents per query);
* ``in_batch`` — softmax over the positives of all positions in the batch (Yi et al.,
  RecSys 2019), masking other positions whose positive is the same item; no logQ
  correction is applied.

Cosine logits are divided by ``temperature`` (the paper's smoothing factor gamma = 1/T).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from gre_ray.recsys.fusion import ItemFeatures
from gre_ray.recsys.models.base import NEG, POS, SEQ, Batch, RetrievalModel
from gre_ray.recsys.models.config import Activation, DSSMConfig, DSSMNegatives, Scoring
from gre_ray.recsys.models.layers import mlp


def _tower(dim: int, widths: tuple[int, ...], act: Activation) -> nn.Sequential:
    """Hidden layers with ``act``, then a linear output layer of width ``widths[-1]``."""
    body = mlp(dim, widths[:-1], act)
    return nn.Sequential(*body, nn.Linear(widths[-2] if len(widths) > 1 else dim, widths[-1]))


class DSSM(RetrievalModel):
    """Two towers over fused item embeddings.

    Args:
        cfg: hyper-parameters.
        items: item features (fusion and text vectors).
        n_users: unused (the user is represented by its history).
        max_len: unused (pooling has no positions).
    """

    def __init__(self, cfg: DSSMConfig, items: ItemFeatures, n_users: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = items.embedding(cfg.dim)
        self.user_tower = _tower(cfg.dim, cfg.tower, cfg.activation)
        self.item_tower = _tower(cfg.dim, cfg.tower, cfg.activation)

    @property
    def n_negatives(self) -> int:
        return self.cfg.n_negatives if self.cfg.negatives == DSSMNegatives.SAMPLED else 0

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) if self.cfg.scoring == Scoring.COSINE else x

    def _scale(self) -> float:
        return 1.0 / self.cfg.temperature if self.cfg.scoring == Scoring.COSINE else 1.0

    def _prefix_users(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, L, D') user vector after each position (running mean of the history)."""
        emb = self.item_emb(seq)  # (B, L, D), zero at padding
        count = (seq > 0).cumsum(1).clamp(min=1).unsqueeze(-1).to(emb.dtype)  # (B, L, 1)
        return self._out(self.user_tower(emb.cumsum(1) / count))

    def _items(self, ids: torch.Tensor) -> torch.Tensor:
        return self._out(self.item_tower(self.item_emb(ids)))

    def user_vectors(self, seq: torch.Tensor) -> torch.Tensor:
        return self._out(self.user_tower(self.item_emb.mean(seq)[0]))  # (B, D')

    def item_vectors(self) -> torch.Tensor:
        return self._out(self.item_tower(self.item_emb.all_items()))

    def loss(self, batch: Batch) -> torch.Tensor:
        users = self._prefix_users(batch[SEQ])  # (B, L, D')
        pos = batch[POS]  # (B, L)
        target = pos > 0
        u = users[target]  # (P, D')
        p_ids = pos[target]  # (P,)
        p = self._items(p_ids)  # (P, D')
        if self.cfg.negatives == DSSMNegatives.IN_BATCH:
            logits = (u @ p.T) * self._scale()  # (P, P); the diagonal holds the positives
            same = (p_ids.unsqueeze(0) == p_ids.unsqueeze(1)) & ~torch.eye(
                len(p_ids), dtype=torch.bool, device=u.device
            )
            logits = logits.masked_fill(same, float("-inf"))
            return F.cross_entropy(logits, torch.arange(len(p_ids), device=u.device))
        n_ids = batch[NEG][target]  # (P, n)
        pos_logit = (u * p).sum(-1, keepdim=True)  # (P, 1)
        neg_logit = torch.einsum("pd,pnd->pn", u, self._items(n_ids))  # (P, n)
        neg_logit = neg_logit.masked_fill(n_ids == p_ids.unsqueeze(1), float("-inf"))
        logits = torch.cat([pos_logit, neg_logit], dim=1) * self._scale()
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=u.device))
