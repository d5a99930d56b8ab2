"""Search mode picks lr and dim per (dataset, model) on validation only, and the grid uses them."""

from __future__ import annotations

import pytest

from gre_ray.bench.config import BenchmarkConfig, ResourceSettings, SearchSettings
from gre_ray.bench.trials import grid_specs
from gre_ray.recsys.train import TrainConfig
from gre_ray.wiring.bench_search import run_search
from tests.bench.fakes import SEARCH_BEST, search_trial


def _config(scheduler: str) -> BenchmarkConfig:
    return BenchmarkConfig(
        models=["sasrec", "dssm"],
        embeddings=[],
        train=TrainConfig(max_epochs=4, patience=4),
        # best point first: with one trial at a time ASHA then stops the weaker ones at a rung
        search=SearchSettings(enabled=True, scheduler=scheduler, lr=[3e-3, 1e-3], dim=[16, 8],
                              grace_period=1, reduction_factor=2),
        resources=ResourceSettings(max_concurrent_trials=1, max_failures=0),
    )


@pytest.mark.parametrize("scheduler", ["grid", "asha"])
def test_search_chooses_by_validation_and_the_grid_uses_the_choice(scheduler, ray_session, tiny_inputs, tmp_path):
    config = _config(scheduler)
    chosen, table = run_search(config, tiny_inputs[:1], str(tmp_path / "tune"), trial_fn=search_trial)

    dataset = tiny_inputs[0].name
    assert chosen == {(dataset, "sasrec"): SEARCH_BEST, (dataset, "dssm"): SEARCH_BEST}
    assert len(table) == 2 * 2 * 2 and table["chosen"].sum() == 2
    assert set(table[table["chosen"]]["lr"]) == {SEARCH_BEST["lr"]}
    if scheduler == "asha":
        assert (table["epochs"] < 4).any(), "ASHA stopped no trial early"
    else:
        assert (table["epochs"] == 4).all()

    specs = grid_specs(config, tiny_inputs[:1], chosen)
    assert {(s["lr"], s["dim"], s["model_params"]["dim"]) for s in specs} == {(3e-3, 16, 16)}
