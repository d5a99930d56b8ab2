"""DeepFM (Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR
Prediction", IJCAI 2017).

Fields: the target item, the user's history (mean-pooled item embeddings, a multi-hot
field sharing the item embedding) and the user id. The FM part adds a global bias,
first-order weights (item bias, mean history-item bias, user bias) and the pairwise
interactions ``0.5 * ((sum_f v_f)^2 - sum_f v_f^2)`` of the field embeddings; the deep
part is an MLP over the concatenated field embeddings. Both share the embeddings and
their logits are summed.

Defaults: the paper's 400-400-400 ReLU MLP; dropout 0.2 (the paper found keep
probabilities 0.6-0.9 best); embedding 16 (the paper uses 10).
"""

from __future__ import annotations


import torch
from torch import nn

from gre_ray.recsys.fusion import INIT_STD, ItemFeatures
from gre_ray.recsys.models.base import HIST, ITEM, USER, Batch, RankingModel
from gre_ray.recsys.models.config import DeepFMConfig
from gre_ray.recsys.models.layers import mlp


class DeepFM(RankingModel):
    """DeepFM over fused item embeddings.

    Args:
        cfg: hyper-parameters.
        items: item features (fusion and text vectors).
        n_users: U, for the user field.
        max_len: unused (the history is pooled).
    """

    def __init__(self, cfg: DeepFMConfig, items: ItemFeatures, n_users: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.item_emb = items.embedding(d, with_bias=True)
        self.user_emb = self.user_bias = None
        if cfg.use_user:
            self.user_emb = nn.Embedding(n_users, d)
            nn.init.normal_(self.user_emb.weight, std=INIT_STD)
            self.user_bias = nn.Embedding(n_users, 1)
            nn.init.zeros_(self.user_bias.weight)
        self.bias = nn.Parameter(torch.zeros(()))
        n_fields = 3 if cfg.use_user else 2
        self.deep = nn.Sequential(
            *mlp(n_fields * d, cfg.mlp, cfg.activation, cfg.dropout),
            nn.Linear(cfg.mlp[-1] if cfg.mlp else n_fields * d, 1),
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        item_vec, item_bias = self.item_emb.lookup(batch[ITEM])  # (B, D), (B,)
        hist_vec, hist_bias = self.item_emb.mean(batch[HIST])  # (B, D), (B,): padding excluded
        fields = [item_vec, hist_vec]
        first = self.bias + item_bias + hist_bias  # (B,)
        if self.user_emb is not None:
            fields.append(self.user_emb(batch[USER]))
            first = first + self.user_bias(batch[USER]).squeeze(-1)
        v = torch.stack(fields, dim=1)  # (B, F, D)
        second = 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(-1)  # (B,)
        deep = self.deep(v.flatten(1)).squeeze(-1)  # (B,)
        return first + second + deep  # (B,) logits
