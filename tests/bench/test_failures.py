"""A crashing trial is retried then recorded as failed with its error; NaN metrics are failed."""

from __future__ import annotations

import math

from gre_ray.bench.config import ResourceSettings
from gre_ray.bench.leaderboard import leaderboard
from gre_ray.bench.results import history_table, results_table
from gre_ray.wiring.tune_grid import run_grid
from tests.bench.fakes import fake_trial, marks, spec


def test_failed_trials_are_retried_recorded_and_never_averaged(ray_session, tmp_path):
    folder = str(tmp_path / "marks")
    specs = [
        spec("good", folder, 0.4),
        spec("flaky", folder, 0.6, "flaky", dataset="e"),
        spec("broken", folder, 0.9, "broken", dataset="f"),
        spec("nan", folder, 0.9, "nan", dataset="g"),
    ]
    records = run_grid(specs, str(tmp_path / "tune"), "failures", ResourceSettings(max_failures=1),
                       trial_fn=fake_trial)
    table = results_table(records)
    trials = table.drop_duplicates("trial").set_index("trial")

    assert [marks(folder, n) for n in ("good", "flaky", "broken", "nan")] == [1, 2, 2, 1]
    assert trials.loc["good", "status"] == "ok" and trials.loc["good", "failures"] == 0
    assert trials.loc["flaky", "status"] == "ok" and trials.loc["flaky", "failures"] == 1
    assert trials.loc["broken", "status"] == "failed" and trials.loc["broken", "failures"] == 2
    assert trials.loc["broken", "error"] == "RuntimeError: injected failure in broken"
    assert trials.loc["nan", "status"] == "failed"
    assert trials.loc["nan", "error"] == "non-finite test metrics: ndcg@10"
    assert table[table["status"] == "failed"]["value"].map(math.isnan).all()
    history = history_table(records)
    assert list(history[history["trial"] == "flaky"]["epoch"]) == [1, 2]  # only the attempt that finished

    board = leaderboard(table, ["ndcg@10"])
    overall = board[(board["scope"] == "overall")].iloc[0]
    assert overall["n_datasets"] == 2  # good (d) and flaky (e); broken and nan are left out
    assert math.isclose(overall["mean"], (0.4 + 0.6) / 2)
