"""Shared fixtures: the synthetic data set and its splits, built once per session.

(One torch thread per test session is set by the top-level ``tests/conftest.py``.)
"""

from __future__ import annotations

import pytest

from gre_ray.recsys import SplitConfig, make_split
from tests.recsys.synthetic import Synthetic, clustered


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    return clustered()


@pytest.fixture(scope="session")
def retrieval_split(synthetic):
    return make_split(synthetic.interactions, SplitConfig(kind="retrieval", max_len=20), dataset="synthetic")


@pytest.fixture(scope="session")
def ranking_split(synthetic):
    config = SplitConfig(kind="ranking_implicit", max_len=20)
    return make_split(synthetic.interactions, config, dataset="synthetic")
