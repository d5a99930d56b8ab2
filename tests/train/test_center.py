"""Folding the mean into the last LayerNorm bias centres the pooled vectors exactly."""

from __future__ import annotations

import pytest
import torch

from gre_ray.train.center import fold_center, last_layer_norm, pooled_fn

TEXTS = ["a red tent for two", "a sleeping bag", "stove and pot", "hiking boots, size 42", "a lamp", "trail map"]


def _model(path: str):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(path, add_pooling_layer=False).eval(), AutoTokenizer.from_pretrained(path)


def test_fold_center_makes_the_pooled_mean_zero_and_keeps_differences(tiny_bert_path):
    backbone, tok = _model(tiny_bert_path)
    pooled = pooled_fn(backbone, tok, max_length=16)
    before = pooled(TEXTS)
    mean = fold_center(backbone, pooled, TEXTS)
    after = pooled(TEXTS)
    assert torch.allclose(mean, before.mean(0), atol=1e-5)
    assert torch.allclose(after.mean(0), torch.zeros_like(mean), atol=1e-4)
    assert torch.allclose(after - after[0], before - before[0], atol=1e-4)  # only a shift


def test_fold_center_refuses_a_backbone_without_a_final_layer_norm():
    with pytest.raises(ValueError, match="final LayerNorm"):
        last_layer_norm(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="at least one text"):
        fold_center(torch.nn.LayerNorm(2), lambda texts: torch.zeros(len(texts), 2), [])
