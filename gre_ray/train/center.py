"""Remove the common direction of a fine-tuned encoder's vectors by folding the mean into its last bias.

Contrastive fine-tuning on a few thousand collaborative pairs makes the space anisotropic:
every vector gains a large shared component (the demo's unrelated items climb from cosine
0.36 to 0.80, docs/gre_recipe.md), so a recommender that fuses the vectors sees mostly that
component. Subtracting the mean vector is the first step of the post-processing of Mu &
Viswanath 2018 ("All-but-the-Top: Simple and Effective Postprocessing for Word
Representations", ICLR) and of BERT-whitening (Su, Cao, Liu & Ou 2021): it makes the
representation isotropic around the origin without changing what distinguishes items.

With mean pooling the subtraction needs no new module: the pooled vector is the mean over
tokens of the last LayerNorm's output ``gamma * n_t + beta``, so it equals
``gamma * mean_t(n_t) + beta``, and ``beta - m`` shifts every pooled vector by exactly
``-m``. The mean ``m`` is taken over texts of the *training* domains only; the folded
model loads and embeds anywhere (AutoModel, SentenceTransformer, the ``embed`` stage) with
no extra step. :func:`fold_center` checks the shift numerically and refuses a model where
the last LayerNorm does not produce the pooled states. Pure torch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

PooledFn = Callable[[Sequence[str]], Tensor]  # texts -> (N, H) pooled, un-normalised vectors


def last_layer_norm(backbone: nn.Module) -> nn.LayerNorm:
    """The LayerNorm registered last in ``backbone`` (BERT: ``encoder.layer[-1].output.LayerNorm``)."""
    norms = [m for m in backbone.modules() if isinstance(m, nn.LayerNorm)]
    if not norms or norms[-1].bias is None:
        raise ValueError("centering needs a final LayerNorm with a bias in the backbone")
    return norms[-1]


@torch.no_grad()
def fold_center(backbone: nn.Module, pooled: PooledFn, texts: Sequence[str], check: int = 8) -> Tensor:
    """Subtract the mean pooled vector of ``texts`` from the backbone's last LayerNorm bias.

    Args:
        backbone: the Hugging Face encoder (changed in place).
        pooled: its mean-pooled, un-normalised vectors of some texts.
        texts: the texts whose mean is removed (training-domain item texts).
        check: texts re-embedded to verify the shift is exactly ``-m``.

    Returns:
        (H,) the mean vector ``m`` that was removed.

    Raises:
        ValueError: no texts, or the bias does not shift the pooled vectors (another
            pooling, or a module after the last LayerNorm).
    """
    if not texts:
        raise ValueError("centering needs at least one text")
    mean = pooled(texts).float().mean(0)  # (H,)
    probe = list(texts[:check])
    before = pooled(probe).float()
    norm = last_layer_norm(backbone)
    norm.bias -= mean.to(norm.bias.dtype)
    after = pooled(probe).float()
    if not torch.allclose(after, before - mean, atol=1e-3 * max(1.0, float(mean.abs().max()))):
        norm.bias += mean.to(norm.bias.dtype)
        raise ValueError("the last LayerNorm's bias does not shift the pooled vectors; centering needs mean pooling "
                         "over the last LayerNorm's output")
    return mean


def pooled_fn(backbone: nn.Module, tokenizer, max_length: int, batch_size: int = 128) -> PooledFn:
    """Mean-pooled, un-normalised vectors of ``backbone`` (CPU, no gradients), in batches."""
    from gre_ray.embed.pooling import Pooling, pool
    from gre_ray.train.pooling import tokenize

    @torch.no_grad()
    def run(texts: Sequence[str]) -> Tensor:
        out = []
        for start in range(0, len(texts), batch_size):
            features = tokenize(tokenizer, texts[start : start + batch_size], max_length)
            hidden = backbone(**features).last_hidden_state
            out.append(pool(hidden, features["attention_mask"], Pooling.MEAN))
        return torch.cat(out)

    return run
