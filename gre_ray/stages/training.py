"""What the ``mlm`` and ``contrastive`` stages share: split, check, fit, finish, export, record.

Both stages summarize a Parquet artifact's rows: training rows per domain, unusable rows
and the first held-out rows (:mod:`gre_ray.train.row_summary`, split as
:mod:`gre_ray.train.rows` does), reject unusable input before any worker starts, run the
driver (:func:`gre_ray.wiring.train_driver.fit`) under ``<run>/_train`` with a run name
keyed by the settings, the input files and the model, then copy the best epoch's model
to the stage output with a model card, and log the epochs' metrics to the stage's
``tracking`` backend (:mod:`gre_ray.tracking.training`). No Ray call here: the Ray Train run
and the finishing task are :mod:`gre_ray.wiring.train_driver`'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Callable

import pyarrow as pa
import pyarrow.fs as pafs

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, fingerprint_files
from gre_ray.embed.identity import card_datasets
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.errors import DataError
from gre_ray.runner.stage import StageContext
from gre_ray.train.config import resolve_model
from gre_ray.tracking.training import log_training
from gre_ray.train.export import write_model_card
from gre_ray.train.row_summary import RowSummary
from gre_ray.train.tasks.base import Task
from gre_ray.wiring.train_driver import FitResult, finish, fit, preflight, read_train_rows, steps_per_epoch

log = logging.getLogger("gre_ray")

TRAIN_DIR = "_train"


def heldout_rows(rows: RowSummary, what: str) -> pa.Table:
    """The held-out rows (the first ``loop.heldout_max`` in input order); at least two."""
    held = rows.heldout
    n = held.num_rows if held is not None else 0
    if n < 2:
        raise DataError(f"{what}: {n} held-out row(s); raise loop.heldout_fraction or provide more rows")
    return held


def train_and_export(
    ctx: StageContext,
    task: Task,
    *,
    stage: str,
    kind: str,
    source: Location,
    rows: RowSummary,
    artifact: str,
    card: dict[str, Any],
    finalize: Callable[[str], dict[str, Any]] | None = None,
    finalize_on_worker: bool = False,
) -> FitResult:
    """Run the training of a stage and write its model to ``ctx.out(artifact)``.

    Args:
        ctx: the stage context (settings, output, run folder, row counts).
        task: the task to train.
        stage: the stage's name (messages and the run name).
        kind: ``pairs`` or ``corpus`` (how Ray Data selects the training rows).
        source: the Parquet artifact the rows come from.
        rows: the input's summary (counts, dropped rows, the held-out rows), checked
            (:mod:`gre_ray.train.row_summary`).
        artifact: the output artifact name.
        card: model-card fields (title, base model, objective, notes, pooling).
        finalize: called with the best epoch's local model folder before it is exported; may
            rewrite its weights (WiSE-FT); what it returns joins the model card and the stats.
        finalize_on_worker: run ``finalize`` in a Ray task with a training worker's resources
            (its GPU), on the model read from the run's storage
            (:func:`gre_ray.wiring.train_driver.finish`), not in this process.

    Returns:
        The training result.
    """
    settings = ctx.settings
    preflight(settings, stage)
    for reason, n in rows.dropped.items():
        ctx.quarantine(reason, n)
    heldout = heldout_rows(rows, stage)
    n_train = rows.n_train
    steps = steps_per_epoch(settings, n_train, stage)
    counts = rows.train_counts
    hard = getattr(settings, "hard_negatives", 0)
    key = json.dumps(
        {
            "settings": to_dict(settings),
            "input": fingerprint_files(source),
            "model": model_fingerprint(resolve_model(task.model_path)),
        },
        sort_keys=True,
    )
    name = f"{stage}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    storage = ctx.run_root / TRAIN_DIR
    log.info("%s: %d training rows, %d held out, %d steps/epoch, run %s", stage, n_train, heldout.num_rows, steps, name)

    train = read_train_rows(source, kind, settings, hard)
    result = fit(task, train, heldout, global_counts=counts, steps=steps, storage=storage, name=name, what=stage)
    state = result.state
    final = finish(finalize, result, settings, on_worker=finalize_on_worker) if finalize is not None else {}
    base_data = card_datasets(resolve_model(task.model_path))  # what the base model's own card lists
    write_model_card(
        result.model_dir,
        {
            **card,
            "trained_on": sorted(set(base_data) | set(counts)),
            "data": {
                "input rows": rows.rows,
                "training rows": n_train,
                "held-out rows": heldout.num_rows,
                "rows per domain": counts,
            },
            "hyperparameters": to_dict(settings),
            "history": state.get("history", []),
            "best_epoch": state.get("best_epoch"),
            **final,
        },
    )
    if settings.tracking.value != "none":
        tracked = log_training(settings.tracking, settings.tracking_uri, settings.tracking_experiment,
                               ctx.run_root.uri, name, {"gre.stage": stage, "gre.train_run": name},
                               to_dict(settings), state)
        log.info("%s: tracked in %s", stage, tracked)
    out = ctx.out(artifact)
    out.mkdir()
    pafs.copy_files(result.model_dir, out.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=out.fs)
    ctx.count(rows_in=rows.rows, rows_out=n_train)
    ctx.stats.update(
        {
            "training_rows": n_train,
            "heldout_rows": heldout.num_rows,
            "steps_per_epoch": steps,
            "rows_per_domain": counts,
            "initial_metrics": state.get("initial_metrics"),
            "history": state.get("history"),
            "best_epoch": state.get("best_epoch"),
            "stopped_early": state.get("stopped_early"),
            "resumed_from_epoch": state.get("resumed_from_epoch"),
            **final,
            "train_run": result.run_dir,
            "worker_nodes": state.get("worker_nodes"),
        }
    )
    if not settings.loop.keep_checkpoints:
        (storage / name).remove()
        Location.of(result.model_dir).remove()
    return result

