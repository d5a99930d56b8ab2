"""Item representations with optional frozen text vectors, shared by all four models.

One module builds every model's item embedding, so ``none`` / ``add`` / ``concat`` /
``text_only`` mean the same thing in SASRec, DSSM, DIN and DeepFM (the fusion options of
GRE-B, following UniSRec-style frozen text features, Hou et al. 2022):

* ``none`` — a trainable ID embedding only.
* ``add`` — ID embedding + a trainable linear projection of the frozen text vector.
* ``concat`` — [ID embedding, text vector] projected linearly to ``dim``.
* ``text_only`` — the projected text vector alone: no per-item parameter, so items never
  seen in training are scored from their text.
* ``unisrec`` — ID embedding + UniSRec's MoE-enhanced adaptor over the frozen text vector
  (Hou et al., "Towards Universal Sequence Representation Learning for Recommender
  Systems", KDD 2022, sec. 2.2; their transductive setting adds the ID embedding): E
  parametric-whitening experts ``(x - b_e) W_e`` mixed by a softmax gate ``softmax(x G)``.
  Defaults: 8 experts as in the paper; no adaptor dropout and no gating noise (the paper
  uses 0.2 and noisy gating; ``adaptor_dropout`` / ``adaptor_noise`` turn them on), so the
  adaptor is deterministic in training mode like the other modes.

Text vectors are a non-persistent buffer (frozen, not in ``state_dict``). The padding
item 0 always maps to the zero vector. ``with_bias`` adds a per-item scalar under the same
fusion (DeepFM's first-order item weight) as one more output column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gre_ray.errors import ConfigError
from gre_ray.recsys.fusion_config import FusionConfig, FusionMode
from gre_ray.recsys.text_vectors import TextVectors, items_digest, reduce_text_vectors

INIT_STD = 0.02


class MoEAdaptor(nn.Module):
    """UniSRec's MoE-enhanced adaptor (Hou et al. 2022, eqs. 3-5): (..., T) → (..., W).

    Expert e whitens with a learnt bias and a linear map, ``(x - b_e) W_e``; the gate
    ``g = softmax(x G [+ noise])`` mixes them. All experts run as one (T, E * W) matrix
    product, their biases folded in as ``- b_e W_e``. The gate starts at zero (uniform
    mixture), the expert maps at N(0, 0.02) as in UniSRec's initialisation.

    Args:
        in_dim: text width T.
        out_dim: output width W.
        n_experts: E.
        dropout: dropout on the text vector before the experts (UniSRec: 0.2).
        noise: noisy gating in training (Shazeer et al. 2017, as UniSRec).
    """

    def __init__(self, in_dim: int, out_dim: int, n_experts: int = 8, dropout: float = 0.0, noise: bool = False) -> None:
        super().__init__()
        self.n_experts, self.out_dim, self.dropout, self.noise = n_experts, out_dim, dropout, noise
        self.weight = nn.Parameter(torch.randn(in_dim, n_experts * out_dim) * INIT_STD)  # (T, E*W)
        self.bias = nn.Parameter(torch.zeros(n_experts, in_dim))  # (E, T) whitening offsets b_e
        self.gate = nn.Parameter(torch.zeros(in_dim, n_experts))  # (T, E)
        self.gate_noise = nn.Parameter(torch.zeros(in_dim, n_experts)) if noise else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, self.dropout, self.training)
        weights = self.weight.view(-1, self.n_experts, self.out_dim)  # (T, E, W)
        offset = torch.einsum("et,tew->ew", self.bias, weights)  # (E, W): b_e W_e
        experts = (x @ self.weight).unflatten(-1, (self.n_experts, self.out_dim)) - offset  # (..., E, W)
        logits = x @ self.gate  # (..., E)
        if self.gate_noise is not None and self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(x @ self.gate_noise)
        return (torch.softmax(logits, -1).unsqueeze(-1) * experts).sum(-2)  # (..., W)


class ItemFeatures:
    """The catalogue size, fusion and (reduced) text vectors from which models build item embeddings.

    Args:
        n_items: N; dense items are 1..N.
        fusion: the fusion config.
        text: vectors aligned to the split (required unless ``fusion.mode`` is ``none``).
        item_ids: the split's item ids, checked against ``text.items_digest`` when given.

    Raises:
        ConfigError: text vectors missing for a text fusion, or aligned to other items.
    """

    def __init__(
        self, n_items: int, fusion: FusionConfig, text: TextVectors | None = None, item_ids=None
    ) -> None:
        self.n_items = n_items
        self.fusion = fusion
        self.text: torch.Tensor | None = None
        self.n_missing = 0
        if fusion.mode == FusionMode.NONE:
            return
        if text is None:
            raise ConfigError(f"fusion.mode={fusion.mode.value} needs text vectors, none were given")
        if text.matrix.shape[0] != n_items + 1 or (
            item_ids is not None and items_digest(item_ids) != text.items_digest
        ):
            raise ConfigError(
                f"text vectors from {text.source} were aligned to {text.matrix.shape[0] - 1} other items, "
                f"not this split's {n_items}; align them with load_text_vectors(path, split.item_ids)"
            )
        text = reduce_text_vectors(text, fusion.reduce, fusion.reduce_dim)
        self.text = torch.from_numpy(text.matrix)
        self.n_missing = text.n_missing

    def embedding(self, dim: int, *, with_bias: bool = False) -> "ItemEmbedding":
        """A fresh item embedding of width ``dim`` under this fusion."""
        f = self.fusion
        adaptor = (f.adaptor_experts, f.adaptor_dropout, f.adaptor_noise)
        return ItemEmbedding(self.n_items, dim, f.mode, self.text, with_bias=with_bias, adaptor=adaptor)


class ItemEmbedding(nn.Module):
    """Item ids → vectors under one fusion mode.

    Every mode but ``unisrec`` is an affine map of the gathered ID row and text row, so the
    mean over a history equals the map of the mean rows: :meth:`mean` pools with
    ``embedding_bag`` before projecting, which saves the (B, L, T) projection for pooled
    histories (``unisrec``'s gate is not affine: it maps every row, then pools).

    Args:
        n_items: N (ids 1..N, 0 is padding).
        dim: output width D.
        mode: the fusion mode.
        text: (N + 1, T) frozen text vectors, required unless ``mode`` is ``none``.
        with_bias: also produce a per-item scalar (:meth:`lookup`, :meth:`mean`); it is
            one extra output column of the same tables and projection.
        adaptor: (experts, dropout, noise) of the ``unisrec`` adaptor.
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        mode: FusionMode,
        text: torch.Tensor | None = None,
        *,
        with_bias: bool = False,
        adaptor: tuple[int, float, bool] = (8, 0.0, False),
    ) -> None:
        super().__init__()
        self.mode = FusionMode(mode)
        self.n_items, self.dim, self.with_bias = n_items, dim, with_bias
        width = dim + int(with_bias)  # W: embedding columns, then the bias column
        self.id = None
        if self.mode != FusionMode.TEXT_ONLY:
            self.id = nn.Embedding(n_items + 1, width, padding_idx=0)
            with torch.no_grad():
                nn.init.normal_(self.id.weight, std=INIT_STD)
                self.id.weight[0].zero_()
                self.id.weight[:, dim:].zero_()
        self.proj = None
        if self.mode != FusionMode.NONE:
            if text is None:
                raise ConfigError(f"fusion mode {self.mode.value} needs text vectors")
            self.register_buffer("text", text, persistent=False)
            in_width = text.shape[1] + (width if self.mode == FusionMode.CONCAT else 0)
            if self.mode == FusionMode.UNISREC:
                self.proj = MoEAdaptor(text.shape[1], width, *adaptor)
            else:
                self.proj = nn.Linear(in_width, width)

    def _combine(self, id_rows: torch.Tensor | None, text_rows: torch.Tensor | None) -> torch.Tensor:
        """The mode's affine map of raw ID rows (..., W) and text rows (..., T) → (..., W)."""
        if self.mode == FusionMode.NONE:
            return id_rows
        if self.mode in (FusionMode.ADD, FusionMode.UNISREC):
            return id_rows + self.proj(text_rows)
        if self.mode == FusionMode.CONCAT:
            return self.proj(torch.cat([id_rows, text_rows], dim=-1))
        return self.proj(text_rows)

    def _raw(self, ids: torch.Tensor) -> torch.Tensor:
        id_rows = self.id(ids) if self.id is not None else None
        if self.mode in (FusionMode.ADD, FusionMode.TEXT_ONLY, FusionMode.UNISREC) and ids.numel() > len(self.text):
            # more lookups than items: map the whole (N + 1, T) table once, then gather
            # (the same per-item map; a (B, L) history of a small catalogue is cheaper this way)
            mapped = self.proj(self.text)[ids]  # (..., W)
            out = mapped if id_rows is None else id_rows + mapped
        else:
            text_rows = self.text[ids] if self.proj is not None else None
            out = self._combine(id_rows, text_rows)  # (..., W)
        return out * (ids > 0).unsqueeze(-1).to(out.dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(...) int64 ids → (..., D) vectors; padding rows are zero."""
        out = self._raw(ids)
        return out[..., : self.dim] if self.with_bias else out

    def lookup(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(...) ids → vectors (..., D) and per-item scalars (...); needs ``with_bias``."""
        if not self.with_bias:
            raise RuntimeError("ItemEmbedding was built without with_bias=True")
        out = self._raw(ids)
        return out[..., : self.dim], out[..., self.dim]

    def mean(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean over the last axis of (B, L) ids, padding excluded; zero for an empty row.

        Returns:
            (B, D) mean vectors and, with ``with_bias``, (B,) mean scalars (else None).
        """
        count = (ids > 0).sum(-1, keepdim=True)  # (B, 1)
        denom = count.clamp(min=1).to(torch.float32)
        if self.mode == FusionMode.UNISREC:  # not affine: map every row, then pool
            out = self._raw(ids).sum(-2) / denom  # (B, W); padding rows are zero
            return (out[:, : self.dim], out[:, self.dim]) if self.with_bias else (out, None)
        id_rows = text_rows = None
        if self.id is not None:
            id_rows = F.embedding_bag(ids, self.id.weight, mode="sum", padding_idx=0) / denom
        if self.proj is not None:  # row 0 of the text buffer is zero, so padding adds nothing
            text_rows = F.embedding_bag(ids, self.text, mode="sum", padding_idx=0) / denom
        out = self._combine(id_rows, text_rows) * (count > 0).to(denom.dtype)  # (B, W)
        if self.with_bias:
            return out[:, : self.dim], out[:, self.dim]
        return out, None

    def all_items(self) -> torch.Tensor:
        """(N + 1, D) vectors of every item, row 0 the zero padding vector."""
        device = self.proj.weight.device if self.proj is not None else self.id.weight.device
        return self(torch.arange(self.n_items + 1, device=device))
