"""Pooling modes against values computed by hand from the model's hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gre_ray.embed.pooling import Pooling, pool


def _by_hand(hidden: np.ndarray, mode: Pooling) -> np.ndarray:
    if mode is Pooling.MEAN:
        return hidden.mean(axis=0)
    return hidden[0] if mode is Pooling.CLS else hidden[-1]


@pytest.mark.parametrize("mode", list(Pooling))
def test_encoder_pooling_matches_hand_computed(tiny_encoder, tiny_bert_path, mode):
    from transformers import AutoModel, AutoTokenizer

    texts = ["a warm sleeping bag", "tent", "a light camping stove for hiking in the rain and snow"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    model = AutoModel.from_pretrained(tiny_bert_path).eval()
    expected = []
    for text in texts:  # one text at a time: no padding at all
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**ids).last_hidden_state[0].numpy()
        expected.append(_by_hand(hidden, mode))
    encoder = tiny_encoder.with_spec(pooling=mode, normalize=False)
    encoded = encoder.encode_with_stats(texts, token_budget=10_000)
    assert len(set(encoded.padded_tokens.tolist())) == 1 and encoded.n_tokens.min() < encoded.padded_tokens[0]
    np.testing.assert_allclose(encoded.vectors, np.stack(expected), atol=1e-5)


def test_normalisation_gives_unit_vectors(tiny_encoder):
    vectors = tiny_encoder.with_spec(normalize=True).encode(["one text", "and another, longer text"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_pool_with_left_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])  # row 0 left-padded
    assert pool(hidden, mask, Pooling.CLS)[0].tolist() == hidden[0, 2].tolist()
    assert pool(hidden, mask, Pooling.LAST_TOKEN)[0].tolist() == hidden[0, 3].tolist()
    assert pool(hidden, mask, Pooling.MEAN)[0].tolist() == hidden[0, 2:].mean(0).tolist()
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert pool(hidden, right, Pooling.LAST_TOKEN)[0].tolist() == hidden[0, 1].tolist()
    assert pool(hidden, right, Pooling.CLS)[1].tolist() == hidden[1, 0].tolist()
