"""An interrupted grid is restored and finished without running its finished trials again."""

from __future__ import annotations

import json
import os
import signal

import pytest
from ray import tune

from gre_ray.bench.config import ResourceSettings
from gre_ray.bench.results import results_table
from gre_ray.runner.interrupt import Interrupted
from gre_ray.wiring.tune_grid import run_grid
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


def _finished(trial_folder) -> bool:
    """Whether Tune recorded the trial's final report (``final: 1``) in its ``result.json``."""
    path = trial_folder / "result.json"
    return path.exists() and any(json.loads(line).get("final") == 1 for line in path.read_text().splitlines() if line)


class InterruptedGrid:
    """A grid of ``n`` fake trials interrupted (SIGUSR1) after 2 finished, one at a time."""

    def __init__(self, tmp_path, n: int = 5, sleep: float = 0.5) -> None:
        self.folder = str(tmp_path / "marks")
        self.names = [f"t{i}" for i in range(n)]
        self.specs = [spec(name, self.folder, 0.1 * (i + 1), "slow", dataset=name, sleep=sleep)
                      for i, name in enumerate(self.names)]
        self.storage = tmp_path / "tune"
        self.resources = ResourceSettings(max_concurrent_trials=1)
        armed = tmp_path / "armed"
        armed.touch()
        with pytest.raises(Interrupted, match=r"unfinished"):  # interrupted trials are neither ok nor failed
            self.run(callbacks=[InterruptAfter(2, str(armed))])
        assert not armed.exists()
        self.finished = {name for name in self.names if _finished(self.storage / "grid" / name)}
        assert 2 <= len(self.finished) < n

    def run(self, callbacks=()) -> list[dict]:
        return run_grid(self.specs, str(self.storage), "grid", self.resources, trial_fn=fake_trial,
                        callbacks=list(callbacks))

    def finish(self) -> None:
        """Run the grid again and check that every trial ended ok."""
        table = results_table(self.run()).drop_duplicates("trial")
        assert sorted(table["trial"]) == self.names and (table["status"] == "ok").all()


def test_interrupted_grid_restores_without_rerunning_finished_trials(ray_session, tmp_path):
    grid = InterruptedGrid(tmp_path)
    grid.finish()
    for name in grid.finished:
        assert marks(grid.folder, name) == 1, name
    assert all(marks(grid.folder, n) >= 1 for n in grid.names)
    assert sum(marks(grid.folder, n) for n in grid.names) <= len(grid.names) + 1  # at most the trial in flight ran twice


def test_grid_state_changed_after_sealing_is_not_restored(ray_session, tmp_path):
    """A planted file in the experiment folder breaks the seal: the grid starts afresh, never unpickling it."""
    grid = InterruptedGrid(tmp_path, n=4)
    (grid.storage / "grid" / "planted.pkl").write_bytes(b"not Tune's")
    grid.finish()
    for name in grid.finished:
        assert marks(grid.folder, name) == 2, name  # ran again: the tampered state was not restored
