"""Config mistakes fail in ``__post_init__``; the loader names the section."""

from __future__ import annotations

import pytest

from gre_ray.errors import ConfigError
from gre_ray.pairs.config import CoocScore, PairsConfig, ThresholdConfig, ThresholdMode
from gre_ray.root_config import load_config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"max_items_per_user": 1},
        {"swing_alpha": 0.0},
        {"swing_user_power": -1.0},
        {"swing_max_users_per_item": 1},
        {"min_support": 0},
        {"top_k": 0},
        {"num_negatives": -1},
        {"negative_max_sim": 1.5},
        {"rows_per_shard": 0},
        {"text_threshold": ThresholdConfig(mode=ThresholdMode.TARGET_COUNT)},
    ],
)
def test_bad_values_raise(kwargs):
    with pytest.raises(ValueError):
        PairsConfig(**kwargs)


def test_bad_threshold_values_raise():
    with pytest.raises(ValueError):
        ThresholdConfig(mode=ThresholdMode.QUANTILE, value=1.5)
    with pytest.raises(ValueError):
        ThresholdConfig(mode=ThresholdMode.TARGET_COUNT, target_pairs=0)


def test_loader_reads_and_checks_the_section():
    config = load_config(None, ["pairs.score=swing", "pairs.window=3", "pairs.cooc_threshold.mode=target_count"])
    assert config.pairs.score == CoocScore.SWING and config.pairs.window == 3
    assert config.pairs.cooc_threshold.mode == ThresholdMode.TARGET_COUNT
    with pytest.raises(ConfigError, match="pairs.*cosin"):
        load_config(None, ["pairs.score=cosin"])
    with pytest.raises(ConfigError, match="pairs"):
        load_config(None, ["pairs.min_support=0"])
    with pytest.raises(ConfigError, match="top_kk"):
        load_config(None, ["pairs.top_kk=3"])
