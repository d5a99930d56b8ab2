"""The progress log of a restored grid counts the trials finished before the interruption."""

from __future__ import annotations

import logging
import re

from gre_ray.bench.config import ResourceSettings
from gre_ray.bench.tune_grid import run_grid
from tests.bench.fakes import fake_trial, spec
from tests.bench.test_restore import InterruptAfter


def test_progress_after_a_restore_goes_on_from_the_finished_trials(ray_session, tmp_path, caplog):
    folder = str(tmp_path / "marks")
    names = [f"t{i}" for i in range(5)]
    specs = [spec(n, folder, 0.1 * (i + 1), "slow", dataset=n, sleep=0.3) for i, n in enumerate(names)]
    armed = tmp_path / "armed"
    armed.touch()
    resources = ResourceSettings(max_concurrent_trials=1)
    storage = str(tmp_path / "tune")
    first = run_grid(specs, storage, "grid", resources, trial_fn=fake_trial, callbacks=[InterruptAfter(2, str(armed))])
    finished = sum(1 for r in first if r["metrics"].get("final") == 1)
    assert 2 <= finished < len(names)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gre_ray"):
        run_grid(specs, storage, "grid", resources, trial_fn=fake_trial)
    counts = [int(m.group(1)) for r in caplog.records if (m := re.match(r"\[(\d+)/5\] ", r.getMessage()))]
    assert counts == list(range(finished + 1, len(names) + 1)), counts
