"""Fixtures of the embed tests: item texts with the awkward cases, and loaded encoders (once per session)."""

from __future__ import annotations

import pyarrow as pa
import pytest

WORDS = ("tent sleeping bag warm light camping stove hiking boots waterproof jacket novel mystery "
         "detective paperback puzzle console controller headset espresso grinder ceramic mug").split()


def mixed_texts(n: int, seed: int = 0, max_words: int = 60) -> list[str]:
    """``n`` texts of 1 to ``max_words`` words, plus an empty, a blank and a duplicate text."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, int(k))) for k in rng.integers(1, max_words, n)]
    if n >= 4:
        texts[1], texts[2], texts[3] = "", "   \t", texts[0]
    return texts


def items_table(texts: list[str]) -> pa.Table:
    ids = [f"it{i:04d}" for i in range(len(texts))]
    return pa.table({"item_id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())})


@pytest.fixture(scope="session")
def minilm_encoder(minilm_path):
    from gre_ray.embed.config import EncoderConfig
    from gre_ray.embed.encoder import Encoder

    return Encoder.from_config(EncoderConfig(model=minilm_path))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_bert_path):
    from gre_ray.embed.config import EncoderConfig
    from gre_ray.embed.encoder import Encoder

    return Encoder.from_config(EncoderConfig(model=tiny_bert_path))
