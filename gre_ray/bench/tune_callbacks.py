"""Tune callbacks of the GRE-B grid (a wiring module: it imports Ray Tune at import time)."""

from __future__ import annotations

import logging
import math
from typing import Any

from ray import tune

log = logging.getLogger("gre_ray")


class ProgressLog(tune.Callback):
    """Logs one line per finished or failed trial, in place of Tune's status tables (whose
    columns would show every trial's whole spec)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        result = trial.last_result or {}
        log.info("[%d/%d] %s: valid %.4f, best epoch %s", self.done, self.total, trial.config["trial"]["name"],
                 result.get("valid_score", math.nan), result.get("best_epoch", "-"))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        log.warning("[%d/%d] %s failed after %d attempt(s)", self.done, self.total, trial.config["trial"]["name"],
                    trial.num_failures)
