"""The trained text encoder: a Hugging Face backbone, pooling and L2 normalisation.

Mean pooling over non-padding tokens is what Sentence-BERT (Reimers & Gurevych 2019) and
all-MiniLM-L6-v2 use; CLS pooling takes the first token's state. The pooling itself is
:func:`gre_ray.embed.pooling.pool`, the one the ``embed`` stage's ``Encoder`` applies, so a
trained model embeds the same in training, in the ``embed`` stage and, through the pooling
recorded in the exported folder (:mod:`gre_ray.train.export`), in SentenceTransformer.
Vectors are L2-normalised so dot products are cosines, which the losses divide by a
temperature.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gre_ray.embed.pooling import Pooling, pool


class TextEncoder(nn.Module):
    """Backbone + pooling + normalisation; ``forward(**features) -> (N, H)`` unit vectors.

    Args:
        backbone: a Hugging Face encoder (``AutoModel``) returning ``last_hidden_state``.
        pooling: mean or cls.
    """

    def __init__(self, backbone: nn.Module, pooling: Pooling = Pooling.MEAN) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = Pooling(pooling)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.backbone(**kwargs).last_hidden_state  # (N, L, H)
        return F.normalize(pool(hidden, attention_mask, self.pooling), dim=-1)  # (N, H) float32


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, Tensor]:
    """Tokenise ``texts``, truncated to ``max_length`` tokens and padded to the longest."""
    return dict(tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt"))


@torch.no_grad()
def embed_texts(
    embed, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 64, device: str | torch.device = "cpu"
) -> Tensor:
    """(len(texts), H) unit vectors, in order, computed in batches without gradients.

    Args:
        embed: callable on tokenised features (a :class:`TextEncoder` or a DeepSpeed engine around one).
        tokenizer: the model's tokenizer.
        texts: texts to embed.
        max_length: tokens per text.
        batch_size: texts per forward pass.
        device: where the features go.
    """
    out = []
    for start in range(0, len(texts), batch_size):
        features = tokenize(tokenizer, texts[start : start + batch_size], max_length)
        out.append(embed(**{k: v.to(device) for k, v in features.items()}).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
