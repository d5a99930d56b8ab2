"""DIN: Deep Interest Network (Zhou et al., "Deep Interest Network for Click-Through Rate
Prediction", KDD 2018).

A local activation unit weighs each history item by its relevance to the target item:
an MLP over [h, t, h - t, h * t] (the authors' code uses these four in place of the
paper's outer product) gives one weight per item, *not* softmax-normalised so that the
pooled vector keeps the intensity of interest. The weighted sum, the target item and the
user embedding go through an MLP (200-80 in the paper) with Dice activations.

Deviation: the paper's mini-batch-aware regularisation is not used (weight decay of the
training loop applies instead); item categories are replaced by the fused item
embedding, which is where text vectors enter; the Dice statistics of the activation unit
are taken over all (B x L) history slots, padded ones included.
"""

from __future__ import annotations


import torch
from torch import nn

from gre_ray.recsys.fusion import INIT_STD, ItemFeatures
from gre_ray.recsys.models.base import HIST, ITEM, USER, Batch, RankingModel
from gre_ray.recsys.models.config import DINConfig
from gre_ray.recsys.models.layers import mlp


class DIN(RankingModel):
    """DIN over fused item embeddings.

    Args:
        cfg: hyper-parameters.
        items: item features (fusion and text vectors).
        n_users: U, for the user embedding.
        max_len: unused (attention has no positions).
    """

    def __init__(self, cfg: DINConfig, items: ItemFeatures, n_users: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.item_emb = items.embedding(d)
        self.user_emb = nn.Embedding(n_users, d) if cfg.use_user else None
        if self.user_emb is not None:
            nn.init.normal_(self.user_emb.weight, std=INIT_STD)
        self.attention = nn.Sequential(
            *mlp(4 * d, cfg.attention, cfg.activation),
            nn.Linear(cfg.attention[-1] if cfg.attention else 4 * d, 1),
        )
        width = (3 if cfg.use_user else 2) * d
        self.head = nn.Sequential(
            *mlp(width, cfg.mlp, cfg.activation, cfg.dropout), nn.Linear(cfg.mlp[-1] if cfg.mlp else width, 1)
        )

    def attention_weights(self, h: torch.Tensor, t: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        """History (B, L, D), target (B, D), ids (B, L) → (B, L) unnormalised weights, zero at padding."""
        t = t.unsqueeze(1).expand_as(h)  # (B, L, D)
        w = self.attention(torch.cat([h, t, h - t, h * t], dim=-1)).squeeze(-1)  # (B, L)
        return w * (hist > 0).to(w.dtype)

    def forward(self, batch: Batch) -> torch.Tensor:
        hist = batch[HIST]
        h, t = self.item_emb(hist), self.item_emb(batch[ITEM])  # (B, L, D), (B, D)
        pooled = torch.einsum("bl,bld->bd", self.attention_weights(h, t, hist), h)  # (B, D)
        parts = [pooled, t]
        if self.user_emb is not None:
            parts.append(self.user_emb(batch[USER]))
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)  # (B,) logits
