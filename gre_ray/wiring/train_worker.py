"""The loop every Ray Train worker runs: shard, sample, step, evaluate, checkpoint, report.

Per worker: read its Ray Data shard of the training rows once (rows are small: texts),
plan each epoch's micro-batches with :class:`~gre_ray.train.sampling.DomainBatchSampler`,
tokenise inside the worker, and step the :class:`~gre_ray.train.engine.Engine`. After
each epoch every worker evaluates the same held-out rows (so ZeRO-3's collective forward
works), then all report a checkpoint through ``ray.train.report``: each writes its shard of
the DeepSpeed state, worker 0 also the consolidated Hugging Face model and ``state.json``
(epoch, best metric, early-stopping counter, history). On start, a checkpoint from
``ray.train.get_checkpoint()`` (a restart after a failure, or a re-run of the same run) or
from the explicit ``resume_from`` restores all of it.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist

from gre_ray.data.storage import Location
from gre_ray.wiring.accelerator import gpu_device, node_id
from gre_ray.train.sampling import DomainBatchSampler
from gre_ray.train.tasks.base import Task, to_device
from gre_ray.train.worker_spec import WorkerSpec

log = logging.getLogger("gre_ray")

STATE_FILE = "state.json"
MODEL_DIR = "model"
ENGINE_DIR = "engine"
SORT_KEYS = ("domain", "item_a", "item_b", "item_id")


class InjectedFailure(RuntimeError):
    """Raised by the test-only ``loop.fail_at_step`` to exercise failure recovery."""


@dataclass
class TrainState:
    """Progress that survives restarts (``state.json`` in every checkpoint)."""

    epochs_done: int = 0
    global_step: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    initial_metrics: dict[str, float] = field(default_factory=dict)
    resumed_from_epoch: int | None = None


def read_state(folder: str) -> TrainState:
    with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as fh:
        return TrainState(**json.load(fh))


def _shard_rows(name: str) -> pa.Table:
    """This worker's rows, in an order that does not depend on how blocks arrived."""
    import ray.train

    shard = ray.train.get_dataset_shard(name)
    tables = list(shard.iter_batches(batch_size=None, batch_format="pyarrow"))
    table = pa.concat_tables(tables) if tables else pa.table({})
    keys = [(k, "ascending") for k in SORT_KEYS if k in table.column_names]
    return table.sort_by(keys) if keys else table


def _over_workers(value: float, device: torch.device, op: str = "mean") -> float:
    """``value`` reduced over all workers: ``mean``, ``sum`` or ``max``."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return float(t.item() / (dist.get_world_size() if op == "mean" else 1))


def _maybe_fail(marker_uri: str, at_step: int | None, step: int, rank: int) -> None:
    """The test-only failure: raise once (a marker file remembers the first attempt)."""
    marker = Location.of(marker_uri).path if marker_uri else ""
    if at_step is None or not marker or step != at_step or rank != 0 or os.path.exists(marker):
        return
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as fh:
        fh.write(f"failed at step {step}\n")
    raise InjectedFailure(f"injected failure at global step {step} (loop.fail_at_step)")


def train_loop_per_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Ray Train entry point; ``config`` carries the :class:`WorkerSpec` built by
    :func:`gre_ray.wiring.train_driver.fit` (:meth:`WorkerSpec.loop_config`).

    Returns:
        (worker 0) the final :class:`TrainState` as a dict.
    """
    import ray.train
    import ray.train.torch

    spec = WorkerSpec.from_loop_config(config)
    task: Task = spec.task_on_node()  # model names resolved on this worker's node
    settings = task.settings
    loop = settings.loop
    torch.set_num_threads(settings.scaling.cpus_per_worker)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    if settings.scaling.use_gpu:  # no CUDA device: an error, or the CPU on a simulated cluster
        device = gpu_device(f"training worker {rank}", ray.train.torch.get_device)
    else:
        device = torch.device("cpu")
    torch.manual_seed(loop.seed)

    rows = _shard_rows("train")
    sampler = DomainBatchSampler(
        rows.column("domain").to_pylist(),
        spec.global_counts,
        loop.batch_size,
        spec.steps_per_epoch,
        mode=settings.sampler.mode,
        weights=settings.sampler.domain_weights,
        seed=loop.seed,
        rank=rank,
    )
    total_steps = max(1, loop.epochs * spec.steps_per_epoch // settings.optim.grad_accumulation)
    engine_ = _engine(task, settings, total_steps, device)
    task.setup(device)
    state = TrainState()
    checkpoint = ray.train.get_checkpoint() or spec.resume_from  # a restart's own, else the explicit one
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            engine_.load(os.path.join(folder, ENGINE_DIR))
            state = read_state(folder)
        state.resumed_from_epoch = state.epochs_done
        log.info("worker %d resumed after epoch %d from %s", rank, state.epochs_done, checkpoint.path)

    heldout = spec.heldout
    if state.epochs_done == 0 and not state.initial_metrics:
        engine_.eval()
        state.initial_metrics = {k: round(float(v), 6) for k, v in task.evaluate(engine_, heldout, device).items()}
    for epoch in range(state.epochs_done, loop.epochs):
        if state.stopped_early:
            break
        task.start_epoch(epoch, rank)
        engine_.train()
        losses, t0, cpu0 = [], time.perf_counter(), time.process_time()
        for idx in sampler.epoch(epoch):
            _maybe_fail(spec.fail_marker, loop.fail_at_step, state.global_step, rank)
            batch = to_device(task.collate(rows.take(idx), rank), device)
            loss = task.loss(engine_, batch)
            engine_.backward(loss)
            engine_.step()
            losses.append(float(loss.detach()))
            state.global_step += 1
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        engine_.eval()
        metrics = task.evaluate(engine_, heldout, device)
        rows_seen = len(losses) * loop.batch_size * world
        metrics = {
            "epoch": epoch + 1,
            "train_loss": _over_workers(float(np.mean(losses)) if losses else float("nan"), device),
            **{k: float(v) for k, v in metrics.items()},
            "lr": engine_.lr(),
            # throughput of the training steps alone (rows of all workers per wall / summed CPU second)
            "samples_per_s": round(rows_seen / max(_over_workers(seconds, device, "max"), 1e-9), 3),
            "samples_per_cpu_s": round(rows_seen / max(_over_workers(cpu_seconds, device, "sum"), 1e-9), 3),
            "peak_rss_mb": round(_over_workers(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, device, "max"), 1),
        }
        _update(state, task, metrics, loop.patience)
        _report(engine_, task, state, metrics, rank, spec)
    return {**asdict(state), "worker_nodes": _worker_nodes(world)}


def _worker_nodes(world: int) -> list[str]:
    """The Ray node id of every worker, by rank (where the training ran)."""
    import torch.distributed as dist

    nodes = [node_id()] * world
    if world > 1 and dist.is_available() and dist.is_initialized():
        dist.all_gather_object(nodes, node_id())
    return nodes


def _engine(task: Task, settings, total_steps: int, device: torch.device):
    from gre_ray.train.engine import Engine

    return Engine(task.build_model(), settings, total_steps, device)


def _update(state: TrainState, task: Task, metrics: dict[str, float], patience: int) -> None:
    """Record the epoch; track the best epoch and the early-stopping counter."""
    state.epochs_done = int(metrics["epoch"])
    state.history.append({k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()})
    value = metrics[task.metric]
    if task.better(value, state.best_metric):
        state.best_metric, state.best_epoch, state.bad_epochs = value, state.epochs_done, 0
    else:
        state.bad_epochs += 1
        state.stopped_early = patience > 0 and state.bad_epochs >= patience


def _report(
    engine_, task: Task, state: TrainState, metrics: dict[str, float], rank: int, spec: WorkerSpec
) -> None:
    """Write this epoch's checkpoint (every worker its shard) and report it to Ray Train."""
    import ray.train
    from ray.train import Checkpoint

    local_dir = Location.of(spec.local_checkpoints).path if spec.local_checkpoints else ""
    if local_dir:  # in-process run: Ray does not copy checkpoints, so write them in place
        folder = os.path.join(local_dir, f"checkpoint_epoch_{state.epochs_done:04d}")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    else:
        folder = tempfile.mkdtemp(prefix="gre-ckpt-")
    try:
        engine_.save(os.path.join(folder, ENGINE_DIR), rank)
        weights = engine_.consolidated_state_dict()  # collective under ZeRO-3
        if rank == 0:
            task.save(engine_.module, weights, os.path.join(folder, MODEL_DIR))
            with open(os.path.join(folder, STATE_FILE), "w", encoding="utf-8") as fh:
                json.dump(asdict(state), fh, indent=2)
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(folder))
    finally:
        if not local_dir:
            shutil.rmtree(folder, ignore_errors=True)
