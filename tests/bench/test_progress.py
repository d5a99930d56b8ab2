"""The progress log of a restored grid counts the trials finished before the interruption."""

from __future__ import annotations

import logging
import re

from tests.bench.test_restore import InterruptedGrid


def test_progress_after_a_restore_goes_on_from_the_finished_trials(ray_session, tmp_path, caplog):
    grid = InterruptedGrid(tmp_path, sleep=0.3)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gre_ray"):
        grid.run()
    counts = [int(m.group(1)) for r in caplog.records if (m := re.match(r"\[(\d+)/5\] ", r.getMessage()))]
    finished = len(grid.finished)
    assert counts == list(range(finished + 1, len(grid.names) + 1)), counts
