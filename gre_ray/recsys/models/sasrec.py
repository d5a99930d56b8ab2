"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Causal self-attention over the user's left-padded item sequence; the hidden state at
position t predicts item t + 1 by a dot product with the (shared) item embedding. The
block follows the authors' code: queries are layer-normalised, keys/values are not, the
residual adds the normalised queries, then LayerNorm → point-wise FFN with a residual;
padded positions are zeroed after every block; input embeddings are scaled by sqrt(d).

Losses (``SASRecLoss``):

* ``bce`` — the paper's objective: one positive and ``n_negatives`` sampled negatives per
  position, each a binary cross-entropy term (the paper samples one negative).
* ``sampled_softmax`` — cross-entropy over [positive, negatives]; a negative equal to the
  positive is masked.
* ``full_ce`` — cross-entropy over the whole catalogue (Klenitskiy & Vasilev, "Turning
  Dross Into Gold Loss: is BERT4Rec really better than SASRec?", RecSys 2023); needs no
  negatives, costs O(positions x N) memory.

Deviations: attention additionally masks padded keys (the original lets real positions
attend to zeroed padding), and heads default to 2 as in the GRE-B setup (the paper uses 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from gre_ray.recsys.fusion import INIT_STD, ItemFeatures
from gre_ray.recsys.models.base import NEG, POS, SEQ, Batch, RetrievalModel


class SASRecLoss(str, Enum):
    BCE = "bce"
    SAMPLED_SOFTMAX = "sampled_softmax"
    FULL_CE = "full_ce"


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec hyper-parameters (defaults: the paper's, with hidden 64 and 2 heads)."""

    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    loss: SASRecLoss = SASRecLoss.BCE
    n_negatives: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss", SASRecLoss(self.loss))
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")


class CausalBlock(nn.Module):
    """One SASRec block: causal multi-head self-attention and a point-wise FFN."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        # x: (B, L, D); allowed: (B, 1, L, L) True where query may attend key; valid: (B, L, 1)
        b, length, d = x.shape
        h = self.n_heads
        q_in = self.attn_norm(x)
        q = self.q(q_in).view(b, length, h, d // h).transpose(1, 2)  # (B, H, L, D/H)
        k = self.k(x).view(b, length, h, d // h).transpose(1, 2)
        v = self.v(x).view(b, length, h, d // h).transpose(1, 2)
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, D/H)
        x = q_in + F.dropout(self.out(att.transpose(1, 2).reshape(b, length, d)), self.dropout, self.training)
        x = self.ffn_norm(x)
        x = x + self.ffn(x)
        return x * valid


class SASRec(RetrievalModel):
    """SASRec over fused item embeddings.

    Args:
        cfg: hyper-parameters.
        items: item features (fusion and text vectors).
        n_users: unused (SASRec has no user embedding); kept for the shared constructor.
        max_len: sequence length L of the split.
    """

    def __init__(self, cfg: SASRecConfig, items: ItemFeatures, n_users: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = items.embedding(cfg.dim)
        self.pos_emb = nn.Parameter(torch.randn(max_len, cfg.dim) * INIT_STD)
        self.blocks = nn.ModuleList(
            CausalBlock(cfg.dim, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_blocks)
        )
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-8)

    @property
    def n_negatives(self) -> int:
        return 0 if self.cfg.loss == SASRecLoss.FULL_CE else self.cfg.n_negatives

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded items → (B, L) hidden states (B, L, D), zero at padding."""
        length = seq.shape[1]
        valid = (seq > 0).unsqueeze(-1)  # (B, L, 1)
        x = self.item_emb(seq) * math.sqrt(self.cfg.dim) + self.pos_emb[-length:]
        x = F.dropout(x, self.cfg.dropout, self.training) * valid
        causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=seq.device)
        allowed = ((causal & valid.transpose(1, 2)) | eye).unsqueeze(1)  # (B, 1, L, L)
        for block in self.blocks:
            x = block(x, allowed, valid)
        return self.final_norm(x) * valid

    def user_vectors(self, seq: torch.Tensor) -> torch.Tensor:
        return self.encode(seq)[:, -1]  # (B, D): the most recent position

    def item_vectors(self) -> torch.Tensor:
        return self.item_emb.all_items()

    def loss(self, batch: Batch) -> torch.Tensor:
        hidden = self.encode(batch[SEQ])  # (B, L, D)
        pos = batch[POS]  # (B, L)
        target = pos > 0
        if self.cfg.loss == SASRecLoss.FULL_CE:
            logits = hidden[target] @ self.item_emb.all_items().T  # (P, N + 1)
            logits[:, 0] = float("-inf")
            return F.cross_entropy(logits, pos[target])
        neg = batch[NEG]  # (B, L, n)
        pos_logit = (hidden * self.item_emb(pos)).sum(-1)  # (B, L)
        neg_logit = torch.einsum("bld,blnd->bln", hidden, self.item_emb(neg))  # (B, L, n)
        if self.cfg.loss == SASRecLoss.BCE:
            per_pos = F.softplus(-pos_logit) + F.softplus(neg_logit).sum(-1)  # -log s(p) - sum log(1 - s(n))
            return per_pos[target].mean()
        neg_logit = neg_logit.masked_fill(neg == pos.unsqueeze(-1), float("-inf"))
        logits = torch.cat([pos_logit.unsqueeze(-1), neg_logit], dim=-1)[target]  # (P, 1 + n)
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
