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
  negatives, costs O(positions x N) memory; a batch whose logits exceed ``full_ce_max_mb``
  is computed in chunks of positions (exact, :mod:`~gre_ray.recsys.models.sasrec_losses`).
* ``shared_softmax`` — sampled softmax over ``n_negatives`` negatives shared by the batch,
  drawn in proportion to (count + 1) ** ``neg_power``, with logQ correction.
* ``mixed_softmax`` — the batch's own targets plus ``n_negatives`` uniform negatives
  (mixed negative sampling), logQ-corrected.
* ``auto`` (default) — ``full_ce`` while one batch's logits fit ``full_ce_max_mb``, else
  ``shared_softmax`` (:mod:`gre_ray.recsys.ce_memory`; the training loop resolves it from
  the batch size, a model built directly assumes batches of 128 sequences).
* ``gbce`` — gSASRec's generalised BCE (Petrov & Macdonald, "gSASRec: Reducing
  Overconfidence in Sequential Recommendation Trained with Negative Sampling", RecSys
  2023): with k sampled negatives out of N items, sampling rate ``alpha = k / (N - 1)``
  and calibration ``t`` in [0, 1], the positive's probability is raised to
  ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``::

      loss = -beta * log s(p) - sum_j log(1 - s(n_j))      (per position, then averaged)

  ``t = 0`` gives ``beta = 1`` (plain BCE); ``t = 1`` gives ``beta = alpha``, which the
  paper shows calibrates the sampled model to the full softmax. The paper's defaults are
  k = 256 and t = 0.75, negatives drawn uniformly from the whole catalogue (so they may be
  items the user has seen: ``negatives="uniform"``). The paper averages over the 1 + k
  logits of a position; here the k + 1 terms are summed per position, as ``bce`` does (a
  constant factor that Adam's step normalisation absorbs).

Negatives (``negatives``): ``unseen`` (default) rejects items in the user's training
history; ``uniform`` draws from all N items (gSASRec's setting; a negative may equal the
positive).

The point-wise FFN has width ``ffn_dim`` (default ``dim``, as in the paper's code;
RecBole uses 256) and activation ``relu`` (paper) or ``gelu`` (RecBole, BERT4Rec).

Deviations: attention additionally masks padded keys (the original lets real positions
attend to zeroed padding), and heads default to 2 as in the GRE-B setup (the paper uses 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gre_ray.recsys.batches import SharedNegatives
from gre_ray.recsys.ce_memory import full_ce_bytes, resolve_loss
from gre_ray.recsys.fusion import INIT_STD, ItemFeatures
from gre_ray.recsys.models.base import CAND, CAND_LOGQ, NEG, POS, POS_LOGP, POS_LOGQ, SEQ, Batch, RetrievalModel
from gre_ray.recsys.models.config import NegativeSampling, SASRecConfig, SASRecLoss
from gre_ray.recsys.models.config import SASRecActivation as Activation
from gre_ray.recsys.models.sasrec_losses import (
    chunked_cross_entropy,
    full_cross_entropy,
    mixed_softmax_loss,
    shared_softmax_loss,
)

NOMINAL_BATCH = 128  # sequences per batch assumed when ``auto`` is resolved by the model itself
SHARED = (SASRecLoss.SHARED_SOFTMAX, SASRecLoss.MIXED_SOFTMAX)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    """gSASRec's exponent of the positive probability (Petrov & Macdonald 2023, eq. 9).

    ``alpha = k / (N - 1)`` is the negative sampling rate, capped at 1 (k >= N - 1 samples
    as many negatives as there are items: nothing to correct).
    """
    alpha = min(1.0, n_negatives / max(n_items - 1, 1))
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce_loss(pos_logit: torch.Tensor, neg_logit: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-position gBCE: ``-beta * log s(pos) - sum_j log(1 - s(neg_j))``.

    Args:
        pos_logit: (...,) positive logits.
        neg_logit: (..., k) negative logits.
        beta: the exponent of :func:`gbce_beta`.

    Returns:
        (...,) losses; ``softplus(-x) = -log s(x)`` keeps it finite for large logits.
    """
    return beta * F.softplus(-pos_logit) + F.softplus(neg_logit).sum(-1)


class CausalBlock(nn.Module):
    """One SASRec block: causal multi-head self-attention and a point-wise FFN."""

    def __init__(
        self, dim: int, n_heads: int, dropout: float, ffn_dim: int | None = None,
        activation: Activation = Activation.RELU,
    ) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        hidden = ffn_dim or dim
        act = nn.GELU() if Activation(activation) == Activation.GELU else nn.ReLU()
        self.ffn = nn.Sequential(
            nn.Linear(dim, hidden), nn.Dropout(dropout), act, nn.Linear(hidden, dim), nn.Dropout(dropout)
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
        self.loss_kind = resolve_loss(cfg, items.n_items, NOMINAL_BATCH * max_len)
        self.n_items = items.n_items
        self.cfg = cfg
        self.item_emb = items.embedding(cfg.dim)
        self.untied_emb = None if cfg.tied_output else items.embedding(cfg.dim)
        self.pos_emb = nn.Parameter(torch.randn(max_len, cfg.dim) * INIT_STD)
        self.blocks = nn.ModuleList(
            CausalBlock(cfg.dim, cfg.n_heads, cfg.dropout, cfg.ffn_dim, cfg.activation)
            for _ in range(cfg.n_blocks)
        )
        self.beta = gbce_beta(cfg.n_negatives, items.n_items, cfg.gbce_t)
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-8)

    @property
    def n_negatives(self) -> int:
        """Negatives per position the batches carry (0 for the full and the shared-negative losses)."""
        return 0 if self.loss_kind == SASRecLoss.FULL_CE or self.loss_kind in SHARED else self.cfg.n_negatives

    @property
    def shared_negatives(self) -> SharedNegatives | None:
        """The negatives shared by a batch, for ``shared_softmax`` and ``mixed_softmax``."""
        if self.loss_kind == SASRecLoss.SHARED_SOFTMAX:
            return SharedNegatives(self.cfg.n_negatives, self.cfg.neg_power)
        if self.loss_kind == SASRecLoss.MIXED_SOFTMAX:
            return SharedNegatives(self.cfg.n_negatives, 0.0)
        return None

    @property
    def out_emb(self):
        """The item embedding that scores items (the input one unless ``tied_output`` is False)."""
        return self.item_emb if self.untied_emb is None else self.untied_emb

    @property
    def negatives_exclude_seen(self) -> bool:
        return self.cfg.negatives == NegativeSampling.UNSEEN

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
        return self.out_emb.all_items()

    def loss(self, batch: Batch) -> torch.Tensor:
        hidden = self.encode(batch[SEQ])  # (B, L, D)
        pos = batch[POS]  # (B, L)
        target = pos > 0
        if self.loss_kind == SASRecLoss.FULL_CE:
            h, weight, y = hidden[target], self.out_emb.all_items(), pos[target]  # (P, D), (N + 1, D), (P,)
            bound = self.cfg.full_ce_max_mb
            if bound is None or full_ce_bytes(self.n_items, len(h)) <= bound * 2**20:
                return full_cross_entropy(h, weight, y)
            return chunked_cross_entropy(h, weight, y, int(bound * 2**20) // full_ce_bytes(self.n_items, 1))
        if self.loss_kind == SASRecLoss.SHARED_SOFTMAX:
            y = pos[target]
            return shared_softmax_loss(
                hidden[target], self.out_emb(y), batch[POS_LOGQ][target], y,
                self.out_emb(batch[CAND]), batch[CAND], batch[CAND_LOGQ],
            )
        if self.loss_kind == SASRecLoss.MIXED_SOFTMAX:
            return mixed_softmax_loss(
                hidden[target], pos[target], batch[POS_LOGP][target], self.out_emb, batch[CAND], self.n_items
            )
        neg = batch[NEG]  # (B, L, n)
        pos_logit = (hidden * self.out_emb(pos)).sum(-1)  # (B, L)
        neg_logit = torch.einsum("bld,blnd->bln", hidden, self.out_emb(neg))  # (B, L, n)
        if self.loss_kind == SASRecLoss.BCE:
            per_pos = F.softplus(-pos_logit) + F.softplus(neg_logit).sum(-1)  # -log s(p) - sum log(1 - s(n))
            return per_pos[target].mean()
        if self.loss_kind == SASRecLoss.GBCE:
            return gbce_loss(pos_logit, neg_logit, self.beta)[target].mean()
        neg_logit = neg_logit.masked_fill(neg == pos.unsqueeze(-1), float("-inf"))
        logits = torch.cat([pos_logit.unsqueeze(-1), neg_logit], dim=-1)[target]  # (P, 1 + n)
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
