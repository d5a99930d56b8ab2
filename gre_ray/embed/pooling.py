"""Pooling: one vector per text from a transformer's token states.

The three modes cover the embedding models GRE-B compares:

* ``mean`` — average of the non-padding token states (Sentence-BERT, Reimers & Gurevych
  2019; all-MiniLM, GTE-base, E5);
* ``cls`` — the state of the first real token (BERT's ``[CLS]``; BGE);
* ``last_token`` — the state of the last real token, for decoder-only embedders whose
  causal attention lets only the last token see the whole text (E5-Mistral, GTE-Qwen).

Positions come from the attention mask, never from the tensor's ends, so both right and
left padding pool correctly (Sentence-Transformers' ``Pooling`` does the same). Pooling
runs in float32 whatever the model's dtype, so bf16/fp16 inference loses no precision in
the average.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class Pooling(str, enum.Enum):
    """How token states become one text vector."""

    CLS = "cls"
    MEAN = "mean"
    LAST_TOKEN = "last_token"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """Pool token states into one vector per row.

    Args:
        hidden: (batch, seq, dim) token states of any float dtype.
        attention_mask: (batch, seq), 1 for real tokens and 0 for padding; every row has
            at least one real token.
        mode: the pooling mode.

    Returns:
        (batch, dim) float32 vectors.
    """
    import torch  # here, so that configs naming a pooling mode load without torch

    hidden = hidden.float()
    mask = attention_mask.to(hidden.device).long()
    if mode is Pooling.MEAN:
        weights = mask.unsqueeze(-1).float()  # (batch, seq, 1)
        summed = (hidden * weights).sum(dim=1)  # (batch, dim)
        return summed / weights.sum(dim=1).clamp(min=1e-9)
    if mode is Pooling.CLS:
        index = mask.argmax(dim=1)  # first real token: 0 with right padding
    elif mode is Pooling.LAST_TOKEN:
        seq = mask.shape[1]
        index = seq - 1 - mask.flip(dims=[1]).argmax(dim=1)  # last real token
    else:
        raise ValueError(f"unknown pooling mode {mode!r}")
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, index]
