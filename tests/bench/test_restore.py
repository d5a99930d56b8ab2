"""An interrupted grid is restored and finished without running its finished trials again."""

from __future__ import annotations

import os
import signal

from ray import tune

from gre_ray.bench.config import ResourceSettings
from gre_ray.bench.results import results_table
from gre_ray.bench.tune_grid import run_grid
from tests.bench.fakes import fake_trial, marks, spec


class InterruptAfter(tune.Callback):
    """Sends the driver SIGUSR1 (Tune's stop signal, like Ctrl+C) after ``n`` trials completed,
    once: the armed file is removed when it fires (Tune pickles callbacks with the experiment
    and restores them)."""

    def __init__(self, n: int, armed: str) -> None:
        self.n, self.armed, self.done = n, armed, 0

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1
        if self.done == self.n and os.path.exists(self.armed):
            os.remove(self.armed)
            os.kill(os.getpid(), signal.SIGUSR1)


def test_interrupted_grid_restores_without_rerunning_finished_trials(ray_session, tmp_path):
    folder = str(tmp_path / "marks")
    names = [f"t{i}" for i in range(5)]
    specs = [spec(n, folder, 0.1 * (i + 1), "slow", dataset=n, sleep=0.5) for i, n in enumerate(names)]
    armed = tmp_path / "armed"
    armed.touch()
    resources = ResourceSettings(max_concurrent_trials=1)
    storage = str(tmp_path / "tune")

    first = run_grid(specs, storage, "grid", resources, trial_fn=fake_trial, callbacks=[InterruptAfter(2, str(armed))])
    finished = {r["spec"]["name"] for r in first if r["metrics"].get("final") == 1}
    assert not armed.exists() and 2 <= len(finished) < len(names)

    second = run_grid(specs, storage, "grid", resources, trial_fn=fake_trial)
    table = results_table(second).drop_duplicates("trial")
    assert sorted(table["trial"]) == names and (table["status"] == "ok").all()
    for name in finished:
        assert marks(folder, name) == 1, name
    assert all(marks(folder, n) >= 1 for n in names)
    assert sum(marks(folder, n) for n in names) <= len(names) + 1  # at most the trial in flight ran twice


def test_grid_state_changed_after_sealing_is_not_restored(ray_session, tmp_path):
    """A planted file in the experiment folder breaks the seal: the grid starts afresh, never unpickling it."""
    folder = str(tmp_path / "marks")
    names = [f"t{i}" for i in range(4)]
    specs = [spec(n, folder, 0.1 * (i + 1), "slow", dataset=n, sleep=0.5) for i, n in enumerate(names)]
    armed = tmp_path / "armed"
    armed.touch()
    resources = ResourceSettings(max_concurrent_trials=1)
    storage = tmp_path / "tune"

    first = run_grid(specs, str(storage), "grid", resources, trial_fn=fake_trial,
                     callbacks=[InterruptAfter(2, str(armed))])
    finished = {r["spec"]["name"] for r in first if r["metrics"].get("final") == 1}
    assert finished
    (storage / "grid" / "planted.pkl").write_bytes(b"not Tune's")

    second = run_grid(specs, str(storage), "grid", resources, trial_fn=fake_trial)
    table = results_table(second).drop_duplicates("trial")
    assert sorted(table["trial"]) == names and (table["status"] == "ok").all()
    for name in finished:
        assert marks(folder, name) == 2, name  # ran again: the tampered state was not restored
