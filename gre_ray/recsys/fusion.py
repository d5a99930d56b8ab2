"""Item representations with optional frozen text vectors, shared by all four models.

One module builds every model's item embedding, so ``none`` / ``add`` / ``concat`` /
``text_only`` mean the same thing in SASRec, DSSM, DIN and DeepFM (the fusion options of
GRE-B, following UniSRec-style frozen text features, Hou et al. 2022):

* ``none`` — a trainable ID embedding only.
* ``add`` — ID embedding + a trainable linear projection of the frozen text vector.
* ``concat`` — [ID embedding, text vector] projected linearly to ``dim``.
* ``text_only`` — the projected text vector alone: no per-item parameter, so items never
  seen in training are scored from their text.

Text vectors are a non-persistent buffer (frozen, not in ``state_dict``). The padding
item 0 always maps to the zero vector. ``with_bias`` adds a per-item scalar under the same
fusion (DeepFM's first-order item weight).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from gre_ray.errors import ConfigError
from gre_ray.recsys.text_vectors import (
    MissingPolicy,
    Reduction,
    TextVectors,
    items_digest,
    reduce_text_vectors,
)

INIT_STD = 0.02


class FusionMode(str, Enum):
    NONE = "none"
    ADD = "add"
    CONCAT = "concat"
    TEXT_ONLY = "text_only"


@dataclass(frozen=True)
class FusionConfig:
    """How text vectors enter the item representation.

    Attributes:
        mode: the fusion (see module docstring).
        missing: ``error`` or ``zero`` for split items absent from the embeddings table
            (applied when the vectors are loaded).
        reduce: ``none``, ``pca`` or ``whiten`` before the projection.
        reduce_dim: components kept by ``pca``/``whiten`` (all when None).
    """

    mode: FusionMode = FusionMode.NONE
    missing: MissingPolicy = MissingPolicy.ERROR
    reduce: Reduction = Reduction.NONE
    reduce_dim: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", FusionMode(self.mode))
        object.__setattr__(self, "missing", MissingPolicy(self.missing))
        object.__setattr__(self, "reduce", Reduction(self.reduce))


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
        return ItemEmbedding(self.n_items, dim, self.fusion.mode, self.text, with_bias=with_bias)


class ItemEmbedding(nn.Module):
    """Item ids → vectors under one fusion mode.

    Args:
        n_items: N (ids 1..N, 0 is padding).
        dim: output width D.
        mode: the fusion mode.
        text: (N + 1, T) frozen text vectors, required unless ``mode`` is ``none``.
        with_bias: also build a per-item scalar (:meth:`bias`).
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        mode: FusionMode,
        text: torch.Tensor | None = None,
        *,
        with_bias: bool = False,
    ) -> None:
        super().__init__()
        self.mode = FusionMode(mode)
        self.n_items = n_items
        self.dim = dim
        self.id = None if self.mode == FusionMode.TEXT_ONLY else nn.Embedding(n_items + 1, dim, padding_idx=0)
        if self.id is not None:
            nn.init.normal_(self.id.weight, std=INIT_STD)
            with torch.no_grad():
                self.id.weight[0].zero_()
        self.proj = None
        if self.mode != FusionMode.NONE:
            if text is None:
                raise ConfigError(f"fusion mode {self.mode.value} needs text vectors")
            self.register_buffer("text", text, persistent=False)
            width = text.shape[1] + (dim if self.mode == FusionMode.CONCAT else 0)
            self.proj = nn.Linear(width, dim)
        self.id_bias = self.text_bias = None
        if with_bias:
            if self.id is not None:
                self.id_bias = nn.Embedding(n_items + 1, 1, padding_idx=0)
                nn.init.zeros_(self.id_bias.weight)
            if self.mode != FusionMode.NONE:
                self.text_bias = nn.Linear(text.shape[1], 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(...) int64 ids → (..., D) vectors; padding rows are zero."""
        if self.mode == FusionMode.NONE:
            out = self.id(ids)
        elif self.mode == FusionMode.ADD:
            out = self.id(ids) + self.proj(self.text[ids])
        elif self.mode == FusionMode.CONCAT:
            out = self.proj(torch.cat([self.id(ids), self.text[ids]], dim=-1))
        else:
            out = self.proj(self.text[ids])
        return out * (ids > 0).unsqueeze(-1).to(out.dtype)

    def bias(self, ids: torch.Tensor) -> torch.Tensor:
        """(...) ids → (...) per-item scalars (zero for padding); needs ``with_bias``."""
        if self.id_bias is None and self.text_bias is None:
            raise RuntimeError("ItemEmbedding was built without with_bias=True")
        out = torch.zeros(ids.shape, device=ids.device)
        if self.id_bias is not None:
            out = out + self.id_bias(ids).squeeze(-1)
        if self.text_bias is not None:
            out = out + self.text_bias(self.text[ids]).squeeze(-1)
        return out * (ids > 0).to(out.dtype)

    def all_items(self) -> torch.Tensor:
        """(N + 1, D) vectors of every item, row 0 the zero padding vector."""
        device = self.proj.weight.device if self.proj is not None else self.id.weight.device
        return self(torch.arange(self.n_items + 1, device=device))
