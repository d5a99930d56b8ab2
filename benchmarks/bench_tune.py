"""Benchmark the GRE-B Tune grid against a plain loop over the same trials.

Usage::

    .venv/bin/python benchmarks/bench_tune.py [--domains 2] [--epochs 2] [--noop 40] [--repeats 2] [--json out.json]

1. **Scheduling overhead per trial**: ``--noop`` trials that only report once, through
   the real Tune wiring (:func:`gre_ray.wiring.tune_grid.run_grid`), with ``reuse_actors``
   and (a fifth as many) without; (wall − wall of a one-trial grid) / (trials − 1), so
   the Tuner's start-up is left out.
2. **Grid wall time**: real trials on the demo data (``--domains`` benchmark domains ×
   SASRec, DSSM, DeepFM × {ID-only, 384-d random text vectors with ``add``}, ``--epochs``
   epochs without early stopping) in a plain loop in this process, then as a Tune grid
   with 1 and with 2 concurrent trials (1 CPU and 1 torch thread each). Each is run
   ``--repeats`` times, interleaved, and the fastest run counts (the machine may be
   shared). Ratios are Tune wall / loop wall; ``overhead_s`` is Tune wall minus the
   trials' own time (summed, divided by the concurrency).

Text vectors are random: the embedding model does not change what is measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Any

import numpy as np


def noop_trial(spec: dict[str, Any], report) -> None:
    """A trial that does nothing but report once."""
    report({"epoch": 1, "valid_score": 0.0, "final": 1})


def prepare(root: str, n_domains: int, epochs: int) -> list[dict[str, Any]]:
    """Demo data of ``n_domains`` benchmark domains, saved splits, random text, trial specs."""
    import pyarrow.parquet as pq

    from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
    from gre_ray.bench.prepare import split_configs
    from gre_ray.bench.trials import DatasetInputs, grid_specs
    from gre_ray.demo.generator import DemoDataConfig, generate_domain
    from gre_ray.embed.vectors import embeddings_table
    from gre_ray.recsys.split_io import save_split
    from gre_ray.recsys.splits import make_split
    from gre_ray.recsys.train import TrainConfig

    config = BenchmarkConfig(
        models=["sasrec", "dssm", "deepfm"],
        embeddings=[EmbeddingModel(name="rand")],
        train=TrainConfig(max_epochs=epochs, patience=epochs, batch_size=256),
        models_params={"deepfm": {"mlp": [64, 64]}},
    )
    inputs = []
    for name in ("kitchen", "footwear", "nonfiction", "videogames", "shortvideo", "cafes")[:n_domains]:
        data = generate_domain(DemoDataConfig(size="demo"), name)
        splits = {}
        for task, split_config in split_configs(config, name).items():
            splits[task] = os.path.join(root, name, task)
            save_split(make_split(data.interactions.to_pandas(), split_config, dataset=name), splits[task])
        ids = data.items.column("item_id").to_pylist()
        vectors = np.random.default_rng(0).normal(size=(len(ids), 384)).astype(np.float32)
        path = os.path.join(root, name, "rand.parquet")
        pq.write_table(embeddings_table(ids, vectors), path)
        inputs.append(DatasetInputs(name, "bench", splits, {"rand": path}))
    return grid_specs(config, inputs)


def timed_grid(specs, storage: str, name: str, concurrent: int, reuse: bool, trial_fn) -> tuple[float, list]:
    from gre_ray.bench.config import ResourceSettings
    from gre_ray.wiring.tune_grid import run_grid

    resources = ResourceSettings(max_concurrent_trials=concurrent, reuse_actors=reuse, max_failures=0)
    start = time.perf_counter()
    records = run_grid(specs, storage, name, resources, trial_fn=trial_fn)
    return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--noop", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    import ray
    import torch

    from gre_ray.bench.trial import run_trial
    from gre_ray.wiring.tune_grid import placed_trial

    torch.set_num_threads(1)
    root = tempfile.mkdtemp(prefix="bench-tune-")
    out: dict[str, Any] = {"machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
                           "load_average_before": os.getloadavg()}
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    storage = os.path.join(root, "tune")

    noop = [{"name": f"noop{i}"} for i in range(args.noop)]
    startup, _ = timed_grid(noop[:1], storage, "startup", 1, True, noop_trial)
    out["tuner_startup_s"] = round(startup, 2)
    for reuse, trials in ((True, noop), (False, noop[: max(2, len(noop) // 5)])):
        wall, _ = timed_grid(trials, storage, f"noop-reuse{int(reuse)}", 2, reuse, noop_trial)
        out[f"noop_trials_reuse_{reuse}"] = len(trials)
        out[f"noop_wall_s_reuse_{reuse}"] = round(wall, 2)
        out[f"overhead_per_trial_s_reuse_{reuse}"] = round((wall - startup) / (len(trials) - 1), 3)

    specs = prepare(os.path.join(root, "data"), args.domains, args.epochs)
    out["trials"] = len(specs)
    run_trial(specs[0], lambda r: None)  # warm imports and caches, as a reused actor has them
    walls: dict[str, list[float]] = {"loop": [], "c1": [], "c2": []}
    overheads: dict[str, list[float]] = {"c1": [], "c2": []}
    for repeat in range(args.repeats):
        start = time.perf_counter()
        for spec in specs:
            run_trial(spec, lambda r: None)
        walls["loop"].append(time.perf_counter() - start)
        for concurrent in (1, 2):
            wall, records = timed_grid(specs, storage, f"grid-c{concurrent}-r{repeat}", concurrent, True, placed_trial)
            inside = sum(r["metrics"].get("wall_seconds", 0.0) for r in records) / concurrent
            walls[f"c{concurrent}"].append(wall)
            overheads[f"c{concurrent}"].append(wall - inside)
            out[f"tune_c{concurrent}_failed"] = sum(1 for r in records if r["error"])
    loop = min(walls["loop"])
    out["loop_wall_s"] = round(loop, 2)
    for key in ("c1", "c2"):
        out[f"tune_{key}_wall_s"] = round(min(walls[key]), 2)
        out[f"tune_{key}_over_loop"] = round(min(walls[key]) / loop, 3)
        out[f"tune_{key}_overhead_s"] = round(min(overheads[key]), 2)
    out["all_walls_s"] = {k: [round(w, 2) for w in v] for k, v in walls.items()}
    out["load_average_after"] = os.getloadavg()
    ray.shutdown()
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main()
