"""Benchmark contrastive training: Ray Train + DeepSpeed (1 and 2 workers) vs a plain torch loop.

Usage::

    .venv/bin/python benchmarks/bench_train.py [--model minilm] [--steps 12] [--batch 16] [--json out.json]

Workload: pairs mined from the demo generator's planted complements (the six training
domains, ``demo`` size), the GTE loss (Li et al. 2023) with in-batch negatives, AdamW,
``--batch`` pairs per worker per step, texts truncated to 32 tokens, one torch thread per
process (DESIGN.md).

Measurements:

* ``plain``: one process, the model and loss called directly (no Ray, no DeepSpeed, no
  process group), ``--steps`` steps after 2 warm-up steps;
* ``ray_1w`` / ``ray_2w``: the ``contrastive`` stage (TorchTrainer, gloo, DeepSpeed ZeRO-1
  fp32, Ray Data input, per-epoch evaluation and checkpoint) on 1 and 2 workers, one epoch
  of ``--steps`` steps per worker; the rates are those the workers measure over their
  training steps (start-up, evaluation and checkpoints excluded; the end-to-end wall time
  of the run is reported beside them).

Each rate is given per wall second and per CPU second (``time.process_time`` summed over
the workers): on a machine shared with other work the wall rate measures the CPU share a
process got, the CPU rate stays comparable. Peak memory: ``ru_maxrss`` of the process
(plain) or the largest of the workers (Ray).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pairs_table():
    from tests.train.data import planted_pairs

    return planted_pairs(size="demo", negatives=0)


def settings_for(model: str, workers: int, steps: int, batch: int):
    from gre_ray.config.loader import build
    from gre_ray.train.config import ContrastiveConfig

    return build(
        ContrastiveConfig,
        {
            "model": model,
            "max_length": 32,
            "scaling": {"num_workers": workers},
            "deepspeed": {"zero_stage": 1},
            "loop": {"epochs": 1, "batch_size": batch, "max_steps_per_epoch": steps, "heldout_fraction": 0.02},
        },
    )


def bench_plain(model: str, steps: int, batch: int) -> dict:
    """The same model, loss and optimiser in one process, without Ray or DeepSpeed."""
    import torch

    from gre_ray.train.config import resolve_model
    from gre_ray.train.engine import build_optimizer
    from gre_ray.train.tasks import ContrastiveTask

    settings = settings_for(model, 0, steps, batch)
    task = ContrastiveTask(settings, resolve_model(model))
    module = task.build_model().train()
    optimizer = build_optimizer(module, settings.optim.lr, settings.optim.weight_decay)
    table = pairs_table()
    wall = cpu = 0.0
    for step in range(steps + 2):
        rows = table.slice((step * batch) % (table.num_rows - batch), batch)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = task.loss(module, task.collate(rows))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), settings.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    samples = steps * batch
    return {
        "samples_per_s": samples / wall,
        "samples_per_cpu_s": samples / cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bench_ray(model: str, workers: int, steps: int, batch: int, root: Path) -> dict:
    """One epoch of ``steps`` steps per worker through the contrastive stage."""
    from gre_ray.stages.contrastive import ContrastiveStage
    from tests.train.data import run_stage, write_parquet

    pairs = write_parquet(pairs_table(), root / "pairs")
    t0 = time.perf_counter()
    ctx = run_stage(ContrastiveStage(), settings_for(model, workers, steps, batch), {"pairs": pairs}, root / f"run{workers}")
    epoch = ctx.stats["history"][0]
    return {
        "samples_per_s": epoch["samples_per_s"],
        "samples_per_cpu_s": epoch["samples_per_cpu_s"],
        "peak_rss_mb": epoch["peak_rss_mb"],
        "end_to_end_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray
    import torch

    torch.set_num_threads(1)
    results = {"plain": bench_plain(args.model, args.steps, args.batch)}
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            results[f"ray_{workers}w"] = bench_ray(args.model, workers, args.steps, args.batch, Path(tmp))
    for name in ("ray_1w", "ray_2w"):
        for rate in ("samples_per_s", "samples_per_cpu_s"):
            results[name][f"{rate}_vs_plain"] = results[name][rate] / results["plain"][rate]
    report = {
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "results": results,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
