"""configs/gre.smoke.yaml end to end, and the GRE recipe's bad input that must stop a run before any work."""

from __future__ import annotations

import pytest

from gre_ray.errors import ConfigError
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config


def test_a_guide_model_that_cannot_be_loaded_stops_the_run_at_preflight(tmp_path):
    config = load_config("configs/gre.smoke.yaml", [f"run.root={tmp_path / 'run'}",
                                                    f"contrastive.guide_model={tmp_path / 'no-such-guide'}"])
    with pytest.raises(ConfigError, match=r"^contrastive.guide_model: .*not found") as err:
        run_config(config)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "embed").exists()  # nothing was embedded


@pytest.mark.slow
def test_the_gre_smoke_recipe_runs_end_to_end(ray_session, tmp_path):
    """Every stage runs; the signal ranks in a sampled pool; WiSE-FT scores both mixes; the model is centered."""
    config = load_config("configs/gre.smoke.yaml", [f"run.root={tmp_path / 'run'}"])
    outcomes = {o.name: o for o in run_config(config)}
    assert [o.status for o in outcomes.values()] == ["ran"] * 6
    stats = outcomes["contrastive"].manifest["stats"]
    pools = stats["signal_pool"]
    assert pools and all(p["pool"] <= p["items"] for p in pools.values())
    assert any(not p["whole_catalogue"] for p in pools.values())  # signal_pool 60 < a domain's catalogue
    assert [r["alpha"] for r in stats["wise_ft"]["scores"]] == [0.5, 1.0]
    assert all("next_item_ndcg" in r for r in stats["wise_ft"]["scores"])
    assert stats["centered"]["texts"] > 0
    assert (tmp_path / "run" / "contrastive" / "model" / "config.json").exists()
