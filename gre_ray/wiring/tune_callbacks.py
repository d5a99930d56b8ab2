"""Tune callbacks of the GRE-B grid (a wiring module: it imports Ray Tune at import time)."""

from __future__ import annotations

import logging
import math
from typing import Any

from ray import tune

log = logging.getLogger("gre_ray")


def finished_count(trials: list, trial: Any) -> int:
    """Trials finished (or errored for good) so far, ``trial`` included, counted from Tune's
    own trial list: a restored experiment's count goes on from the trials it had finished."""
    return 1 + sum(1 for t in trials if t is not trial and t.status in ("TERMINATED", "ERROR"))


class ProgressLog(tune.Callback):
    """Logs one line per finished or failed trial, in place of Tune's status tables (whose
    columns would show every trial's whole spec)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done = finished_count(trials, trial)
        result = trial.last_result or {}
        log.info("[%d/%d] %s: valid %.4f, best epoch %s", self.done, self.total, trial.config["trial"]["name"],
                 result.get("valid_score", math.nan), result.get("best_epoch", "-"))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done = finished_count(trials, trial)
        log.warning("[%d/%d] %s failed after %d attempt(s)", self.done, self.total, trial.config["trial"]["name"],
                    trial.num_failures)
