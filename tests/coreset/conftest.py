"""Fixtures of the coreset tests: a run config and a registry with fake upstream stages.

The ``embed`` stage is another engineer's; these tests build the ``embeddings`` artifact
themselves (``coreset_planted.FakeUpstream``, registered only in the test registry).
"""

from __future__ import annotations

import pytest

from tests.coreset.coreset_planted import FakeDomains, FakeUpstream


@pytest.fixture
def coreset_config(tmp_path):
    """A config running ``fake_upstream`` then ``coreset``, with every filter switched on."""
    from gre_ray.root_config import load_config

    config = load_config(None, [
        "coreset.quality.min_tokens=3",
        "coreset.quality.max_tokens=64",
        "coreset.quality.min_distinct_words=2",
        "coreset.quality.min_alpha_fraction=0.5",
        "coreset.quality.near_dup_threshold=0.99",
        "coreset.budget.total=30",
        "coreset.budget.mode=temperature",
        "coreset.budget.alpha=0.5",
        "coreset.annotate_batch_size=16",
    ])
    config.run.root = str(tmp_path / "run")
    config.run.stages = ["fake_upstream", "coreset"]
    return config


@pytest.fixture
def test_registry():
    from gre_ray.stages.coreset import CoresetStage

    return {"fake_upstream": FakeUpstream, "fake_domains": FakeDomains, "coreset": CoresetStage}
