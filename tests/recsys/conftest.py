"""Shared fixtures: one torch thread, and the synthetic data sets built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import Synthetic, clustered  # noqa: E402

from gre_ray.recsys import SplitConfig, TextVectors, align_text_vectors, make_split  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    return clustered()


@pytest.fixture(scope="session")
def retrieval_split(synthetic):
    return make_split(synthetic.interactions, SplitConfig(kind="retrieval", max_len=20), dataset="synthetic")


@pytest.fixture(scope="session")
def ranking_split(synthetic):
    return make_split(
        synthetic.interactions, SplitConfig(kind="ranking_implicit", max_len=20), dataset="synthetic"
    )


def text_for(synthetic: Synthetic, split) -> TextVectors:
    """The synthetic text vectors aligned to ``split``."""
    ids = np.array(sorted(synthetic.item_text), dtype=object)
    vecs = np.stack([synthetic.item_text[i] for i in ids]).astype(np.float32)
    return align_text_vectors(ids, vecs, split.item_ids, source="synthetic-text")
