"""The Ray Train driver: checks, Ray Data input, TorchTrainer, best checkpoint.

``fit`` runs one task (MLM or contrastive) with a ``TorchTrainer``: gloo on CPUs, NCCL on
GPUs, the training rows read from Parquet by Ray Data and split across workers
(``get_dataset_shard``), ``FailureConfig(max_failures)`` restarting failed workers from the
last reported checkpoint, and ``CheckpointConfig`` keeping the best and the latest. A run
folder ``<storage>/<name>`` that already holds checkpoints (an interrupted run of the same
settings and inputs) is resumed; ``loop.resume_from`` resumes from another run's folder.

Ray Data's read tasks need CPUs, which the training workers hold for the whole run; the
training rows are therefore materialised into the object store before the workers start
(pairs and corpus texts are small next to the model).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa
import pyarrow.fs as pafs

from gre_ray.data.shared import shared_uri
from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError, DataError
from gre_ray.runner import quiet
from gre_ray.runner.resources import train_need
from gre_ray.wiring.accelerator import simulated_gpus
from gre_ray.train.config import TrainSettings
from gre_ray.train.rows import TRAIN, select_rows
from gre_ray.train.tasks.base import Task
from gre_ray.train.worker_spec import WorkerSpec
from gre_ray.wiring.train_worker import MODEL_DIR, STATE_FILE, train_loop_per_worker

log = logging.getLogger("gre_ray")


@dataclass
class FitResult:
    """What a training run left.

    Attributes:
        state: the final training state (epochs, best epoch, per-epoch history).
        model_dir: a local folder with the best epoch's model.
        run_dir: the Ray Train run folder (checkpoints), a path or URI.
        model_at: the same model in the run's storage (the best checkpoint's model folder),
            where a Ray task on another node reads it.
    """

    state: dict[str, Any]
    model_dir: str
    run_dir: str
    model_at: Location | None = None


def preflight(settings: TrainSettings, what: str) -> None:
    """Reject a config the cluster cannot run, before any worker starts.

    Half precision without GPUs is rejected earlier, when the config loads. On an
    autoscaling cluster only what its node types can never hold is rejected; :func:`fit`
    asks the autoscaler for the rest (:mod:`gre_ray.wiring.autoscale`).

    Raises:
        ConfigError: more workers (times CPUs per worker) than the cluster's CPUs, or GPUs
            requested but absent (with an autoscaler: more than it can ever provide).
    """
    import ray
    import torch

    from gre_ray.wiring import autoscale

    scaling = settings.scaling
    if scaling.num_workers == 0:
        if scaling.use_gpu and not torch.cuda.is_available() and not simulated_gpus():
            raise ConfigError(f"{what}.scaling: use_gpu with num_workers 0 needs a GPU in this process; none is visible")
        return
    if autoscale.refuse_if_autoscaled([train_need(scaling, what, settings.deepspeed.precision)]):
        return
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    need = scaling.num_workers * scaling.cpus_per_worker
    if need > cpus:
        raise ConfigError(
            f"{what}.scaling: {scaling.num_workers} workers x {scaling.cpus_per_worker} CPU need {need} CPUs, "
            f"but the Ray cluster has {cpus:g}; lower num_workers or cpus_per_worker"
        )
    if scaling.use_gpu and scaling.num_workers > gpus:
        raise ConfigError(
            f"{what}.scaling: {scaling.num_workers} GPU workers requested, the Ray cluster has {gpus:g} GPUs"
        )


def steps_per_epoch(settings: TrainSettings, n_train: int, what: str) -> int:
    """Micro-batches per epoch on every worker; DataError when there is not one global batch."""
    world = max(1, settings.scaling.num_workers)
    steps = n_train // (settings.loop.batch_size * world)
    if steps < 1:
        raise DataError(
            f"{what}: {n_train} training rows make no global batch of {settings.loop.batch_size} x {world} workers; "
            "lower loop.batch_size or provide more rows"
        )
    cap = settings.loop.max_steps_per_epoch
    return min(steps, cap) if cap else steps


def read_train_rows(source: Location, kind: str, settings: TrainSettings, hard_negatives: int = 0):
    """Ray Data dataset of the training rows of a Parquet file or folder, materialised."""
    import ray.data

    loop = settings.loop
    ds = ray.data.read_parquet(source.path, filesystem=source.fs)
    ds = ds.map_batches(
        select_rows,
        batch_format="pyarrow",
        fn_kwargs={
            "kind": kind,
            "part": TRAIN,
            "fraction": loop.heldout_fraction,
            "seed": loop.seed,
            "hard_negatives": hard_negatives,
        },
    )
    ds.context.execution_options.preserve_order = True  # the blocks in file order, see _ordered_ingest
    return ds.materialize()


def latest_checkpoint(folder: Location) -> Location | None:
    """The checkpoint in ``folder`` (itself or a child) with the most epochs done, or None."""
    candidates = [folder] + [c for c in folder.children() if c.is_dir()]
    best, best_epochs = None, -1
    for loc in candidates:
        state = loc / STATE_FILE
        if state.exists():
            epochs = int(json.loads(state.read_text()).get("epochs_done", 0))
            if epochs > best_epochs:
                best, best_epochs = loc, epochs
    return best


def _ordered_ingest() -> Any:
    """Ray Data options for the training split: blocks in order, so every run gives each worker
    the same rows wherever the blocks live (Ray's output splitter ignores locality hints when
    ``preserve_order`` is set; Ray Train's reproducibility guide). With the materialised
    training rows in file order too (:func:`read_train_rows`), the trained weights equal a run's
    on another cluster layout, one machine included."""
    from ray.train import DataConfig

    options = DataConfig.default_ingest_options()
    options.preserve_order = True
    return options


def fit(
    task: Task,
    train,
    heldout: pa.Table,
    *,
    global_counts: dict[str, int],
    steps: int,
    storage: Location,
    name: str,
    what: str = "train",
) -> FitResult:
    """Train ``task`` on Ray Train and return the best epoch's model.

    Args:
        task: what to train (its ``settings`` carry scaling, DeepSpeed, optimiser, loop).
        train: Ray Data dataset of the training rows.
        heldout: the held-out rows (every worker evaluates all of them).
        global_counts: training rows per domain (fixes the sampler's shares).
        steps: micro-batches per epoch per worker.
        storage: folder of Ray Train runs.
        name: this run's folder name under ``storage`` (the same name resumes).
        what: the config section trained (``mlm``, ``contrastive``), for messages.

    Returns:
        The final state and the best model, copied to a local folder under the run folder.
    """
    from ray.train import (Checkpoint, CheckpointConfig, DataConfig, FailureConfig, LoggingConfig, RunConfig,
                           ScalingConfig)
    from ray.train.torch import TorchConfig, TorchTrainer

    settings = task.settings
    scaling, loop = settings.scaling, settings.loop
    local_mode = scaling.num_workers == 0
    run_dir = storage / name
    fail_marker = local_checkpoints = ""
    if loop.fail_at_step is not None and storage.is_local:
        fail_marker = shared_uri(run_dir / "injected_failure.txt")
    if local_mode:
        if not storage.is_local:
            raise ConfigError("scaling.num_workers: 0 (in-process training) needs a local run folder")
        run_dir.mkdir()
        local_checkpoints = shared_uri(run_dir)
    resume = Location.of(loop.resume_from) if loop.resume_from else (run_dir if local_mode else None)
    found = latest_checkpoint(resume) if resume is not None and resume.exists() else None
    if loop.resume_from and found is None:
        raise ConfigError(f"loop.resume_from: no checkpoint (a folder with {STATE_FILE}) in {loop.resume_from}")
    if found is not None:
        log.info("resuming from %s", found.uri)
    # refuses a driver-local model path before any worker starts
    spec = WorkerSpec.of(task=task, global_counts=global_counts, steps_per_epoch=steps, heldout=heldout,
                         fail_marker=fail_marker, local_checkpoints=local_checkpoints,
                         resume_from=Checkpoint(path=found.path, filesystem=found.fs) if found is not None else None)
    if quiet.is_quiet():
        train.context.enable_progress_bars = False  # the split feeding the workers: its bars tell nothing of training

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=spec.loop_config(),
        scaling_config=ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=scaling.use_gpu,
            resources_per_worker=None if local_mode else _worker_resources(scaling),
        ),
        torch_config=TorchConfig(backend="nccl" if scaling.use_gpu and not simulated_gpus() else "gloo"),
        run_config=RunConfig(
            name=name,
            storage_path=storage.uri,
            failure_config=FailureConfig(max_failures=loop.max_failures),
            logging_config=LoggingConfig(log_level=quiet.train_log_level()),
            checkpoint_config=CheckpointConfig(
                num_to_keep=1, checkpoint_score_attribute=task.metric, checkpoint_score_order=task.mode
            ),
        ),
        datasets={TRAIN: train},
        dataset_config=DataConfig(datasets_to_split=[TRAIN], execution_options=_ordered_ingest()),
    )
    from gre_ray.wiring import autoscale

    with autoscale.resources(train_need(scaling, what)) if not local_mode else nullcontext():
        result = trainer.fit()
    state = result.return_value or {}
    best = _best_checkpoint(result, state, run_dir, local_mode)
    if best is None:
        raise RuntimeError(f"training run {run_dir.uri} reported no checkpoint")
    model_dir = os.path.join(storage.path if storage.is_local else _tmp(), f"{name}-best-model")
    shutil.rmtree(model_dir, ignore_errors=True)
    with best.as_directory() as folder:
        shutil.copytree(os.path.join(folder, MODEL_DIR), model_dir)
    model_at = Location(best.filesystem, posixpath.join(best.path, MODEL_DIR), storage.query)
    return FitResult(state=state, model_dir=model_dir, run_dir=run_dir.uri, model_at=model_at)


def finish(finalize: Callable[[str], dict[str, Any]], result: FitResult, settings: TrainSettings,
           *, on_worker: bool) -> dict[str, Any]:
    """``finalize`` (WiSE-FT, centering) of the best model, which it may rewrite in place.

    With ``on_worker`` it runs in a Ray task with one training worker's resources (its GPU),
    on the model read from the run's storage, and the rewritten folder replaces
    ``result.model_dir``; otherwise in this process on ``result.model_dir``.

    Returns:
        What ``finalize`` returned.
    """
    if not on_worker or result.model_at is None:
        return finalize(result.model_dir)
    import ray

    scaling = settings.scaling
    gpus = 1 if scaling.use_gpu and not simulated_gpus() else 0
    out = Location.of(result.run_dir) / "finished-model"
    task = ray.remote(_finish_task).options(num_cpus=max(1, scaling.cpus_per_worker), num_gpus=gpus)
    stats = ray.get(task.remote(finalize, result.model_at, out, max(1, scaling.cpus_per_worker)))
    shutil.rmtree(result.model_dir, ignore_errors=True)
    os.makedirs(result.model_dir)
    pafs.copy_files(out.path, result.model_dir, source_filesystem=out.fs, destination_filesystem=pafs.LocalFileSystem())
    out.remove()
    return stats


def _finish_task(finalize: Callable[[str], dict[str, Any]], model: Location, out: Location, threads: int) -> dict[str, Any]:
    """The body of :func:`finish`'s task: fetch the model, finalize it, write it to ``out``."""
    import tempfile

    import torch

    torch.set_num_threads(threads)
    folder = tempfile.mkdtemp(prefix="gre-finish-")
    try:
        pafs.copy_files(model.path, folder, source_filesystem=model.fs, destination_filesystem=pafs.LocalFileSystem())
        stats = finalize(folder)
        out.remove()
        out.mkdir()
        pafs.copy_files(folder, out.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=out.fs)
        return stats
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _worker_resources(scaling) -> dict[str, float]:
    return {"CPU": scaling.cpus_per_worker, **({"GPU": 1} if scaling.use_gpu else {})}


def _best_checkpoint(result, state: dict[str, Any], run_dir: Location, local_mode: bool):
    from ray.train import Checkpoint

    best_epoch = state.get("best_epoch")
    if local_mode:
        folder = run_dir / f"checkpoint_epoch_{best_epoch or state.get('epochs_done', 0):04d}"
        return Checkpoint.from_directory(folder.path) if folder.exists() else result.checkpoint
    for checkpoint, metrics in result.best_checkpoints or []:
        if metrics.get("epoch") == best_epoch:
            return checkpoint
    return result.checkpoint


def _tmp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="gre-model-")
