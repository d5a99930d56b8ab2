"""What a GRE-B trial logs to experiment tracking: its tags, parameters and metrics.

One tracked run per trial, named after the trial, nested under a run of its grid. Tags say
what the trial is and how it was measured: the trial ``key`` (:mod:`gre_ray.bench.keys`),
the protocol (``gre.protocol``, ``gre.split_kind``, ``gre.history_masked``), the grid, the
dataset, recommender, embedding, fusion and seed. Parameters are the spec's settings
without file locations. Metrics are the trial's own reports: per epoch ``train_loss``,
``valid_score`` and the validation metrics at step ``epoch``; at the end the test and
validation metrics of the best epoch at step ``best_epoch``. Plain functions: the Tune
callback of :mod:`gre_ray.wiring.tracking` calls them.
"""

from __future__ import annotations

from typing import Any

from gre_ray.bench.trial_spec import TrialSpec
from gre_ray.tracking.mlflow_runs import flat_params

LOCATIONS = ("split_path", "embedding_path", "store", "name", "key", "protocol")
EPOCH_KEYS = ("train_loss", "valid_score", "epoch_seconds")
FINAL_KEYS = ("best_epoch", "epochs", "train_seconds", "wall_seconds", "n_parameters")


def trial_tags(spec: TrialSpec, grid: str) -> dict[str, str]:
    """The tags of a trial's run."""
    protocol = spec.protocol
    tags = {
        "gre.key": spec.key,
        "gre.grid": grid,
        "gre.protocol": protocol.get("ranking", ""),
        "gre.split_kind": protocol.get("split", ""),
        "gre.history_masked": str(bool(protocol.get("history_masked", False))).lower(),
        "gre.split_fingerprint": spec.split_fingerprint,
        "gre.embedding_fingerprint": spec.embedding_fingerprint,
    }
    named = {"dataset": spec.dataset, "scenario": spec.scenario, "task": spec.task.value, "model": spec.model,
             "embedding": spec.embedding, "fusion": spec.fusion.value, "seed": spec.seed,
             "embedding_revision": spec.embedding_revision}
    tags.update({f"gre.{field}": str(value) for field, value in named.items() if value not in (None, "")})
    return tags


def trial_params(spec: TrialSpec) -> dict[str, str]:
    """The spec's settings, flattened (``train.lr``, ``model_params.dim``), without locations."""
    return flat_params({k: v for k, v in spec.plain().items() if k not in LOCATIONS})


def trial_metrics(result: dict[str, Any]) -> tuple[int, dict[str, float]] | None:
    """(step, metrics) to log for one report of a trial; None for a report that is not its own.

    Per-epoch reports (``final`` 0) log at their epoch; the final report logs the test and
    validation metrics of the best epoch at that epoch.
    """
    final = result.get("final")
    if final not in (0, 1):
        return None
    if final == 0:
        keys = [k for k in result if k in EPOCH_KEYS or k.startswith("valid/")]
        return int(result.get("epoch", 0)), {k: result[k] for k in keys}
    keys = [k for k in result if k in FINAL_KEYS or k.startswith(("test/", "valid/"))]
    return int(result.get("best_epoch") or 0), {k: result[k] for k in keys}
