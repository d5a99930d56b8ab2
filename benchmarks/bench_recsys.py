"""Benchmark the GRE-B recommenders on synthetic data: training speed, evaluation throughput
and the memory of chunked full-ranking evaluation.

Usage::

    .venv/bin/python benchmarks/bench_recsys.py [--quick] [--threads 1] [--json out.json]

For each model (literature defaults, ``docs/recsys.md``) and two catalogue sizes it times
one real training epoch (ID-only, and with ``add`` fusion of 384-d text vectors at the
smaller size) and the test-stage evaluation (full ranking over the whole catalogue for
SASRec/DSSM; scoring the 1 + n_negatives samples per user for DIN/DeepFM). Then, in fresh
subprocesses, it measures the peak resident memory added by full-ranking evaluation of
1,024 users over a large catalogue, chunked (``full_ranking_ranks``) against the naive
all-at-once score matrix (``naive_ranks``), and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import torch

from gre_ray.recsys import (
    FusionConfig,
    ItemFeatures,
    SplitConfig,
    Stage,
    TrainConfig,
    align_text_vectors,
    evaluate,
    make_split,
    model_config,
)
from gre_ray.recsys.batches import RetrievalBatches, ranking_batches, to_tensors
from gre_ray.recsys.models import RetrievalModel, build_model

TEXT_DIM = 384
BATCH = {"sasrec": 128, "dssm": 128, "din": 1024, "deepfm": 1024}


def interactions(n_users: int, n_items: int, mean_len: int, seed: int = 0) -> pd.DataFrame:
    """Users with Poisson lengths (>= 5) over Zipf-popular items, increasing timestamps."""
    rng = np.random.default_rng(seed)
    lengths = np.maximum(rng.poisson(mean_len, n_users), 5)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=lengths.sum(), p=weights / weights.sum())
    return pd.DataFrame(
        {
            "domain": "bench",
            "user_id": np.repeat([f"u{u}" for u in range(n_users)], lengths),
            "item_id": [f"i{i}" for i in items],
            "timestamp": np.arange(lengths.sum(), dtype=np.int64),
        }
    )


class Clock:
    """Wall and process-CPU seconds of a block: on a shared machine the wall time grows with
    the load, while the CPU time of a one-thread process stays close to the unloaded cost."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_training_epoch(model, split, name: str) -> tuple[Clock, int]:
    """One training epoch's clock and the number of training units (users or samples)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    if isinstance(model, RetrievalModel):
        batches = RetrievalBatches(split)
        units, it = len(batches.train_users), batches.train(BATCH[name], model.n_negatives, rng)
    else:
        units, it = len(split.samples[Stage.TRAIN]), ranking_batches(split, Stage.TRAIN, BATCH[name], rng)
    model.train()
    with Clock() as clock:
        for batch in it:
            loss = model.loss(to_tensors(batch, "cpu"))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clock, units


def time_evaluation(model, split) -> Clock:
    """The clock of the test-stage evaluation of every user."""
    cfg = TrainConfig()
    with Clock() as clock:
        evaluate(model, split, Stage.TEST, user_chunk=cfg.eval_user_chunk, item_chunk=cfg.eval_item_chunk)
    return clock


def run_models(sizes: list[int], n_users: int, mean_len: int) -> list[dict]:
    rows = []
    for n_items in sizes:
        df = interactions(n_users, n_items, mean_len)
        catalogue = [f"i{i}" for i in range(n_items)]  # every item is a candidate, interacted or not
        splits = {
            kind: make_split(df, SplitConfig(kind=kind), dataset=f"bench-{n_items}", catalogue=catalogue)
            for kind in ("retrieval", "ranking_implicit")
        }
        for name in ("sasrec", "dssm", "din", "deepfm"):
            split = splits["retrieval" if name in ("sasrec", "dssm") else "ranking_implicit"]
            rng = np.random.default_rng(1)
            vectors = rng.normal(size=(split.n_items, TEXT_DIM)).astype(np.float32)
            text = align_text_vectors(split.item_ids, vectors, split.item_ids, source="random")
            for mode in ("none", "add") if n_items == sizes[0] else ("none",):
                torch.manual_seed(0)
                items = ItemFeatures(split.n_items, FusionConfig(mode=mode), text)
                model = build_model(model_config(name), items, split.n_users, split.config.max_len)
                train, units = time_training_epoch(model, split, name)
                ev = time_evaluation(model, split)
                row = dict(
                    model=name,
                    fusion=mode,
                    items=split.n_items,
                    users=split.n_users,
                    train_units=units,
                    epoch_wall_s=round(train.wall, 2),
                    epoch_cpu_s=round(train.cpu, 2),
                    train_units_per_cpu_s=round(units / train.cpu, 1),
                    eval_users_per_wall_s=round(split.n_users / ev.wall, 1),
                    eval_users_per_cpu_s=round(split.n_users / ev.cpu, 1),
                )
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def memory_probe(mode: str, n_items: int, n_users: int, dim: int) -> None:
    """Child process: print the peak RSS (MiB) added by one full-ranking evaluation."""
    from gre_ray.recsys.metrics import full_ranking_ranks, naive_ranks

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.normal(size=(n_users, dim)).astype(np.float32))
    items = torch.from_numpy(rng.normal(size=(n_items + 1, dim)).astype(np.float32))
    targets = rng.integers(1, n_items + 1, n_users)
    lengths = rng.integers(5, 50, n_users)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    hist = rng.integers(1, n_items + 1, indptr[-1]).astype(np.int64)

    def rss(key: str) -> float:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith(key)).split()[1]) / 1024

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    base = rss("VmRSS:")
    with Clock() as clock:
        if mode == "naive":
            ranks = naive_ranks(users @ items.T, targets, indptr, hist)
        else:
            user_chunk, item_chunk = map(int, mode.split(":")[1:])
            ranks = full_ranking_ranks(
                users, items, targets, indptr, hist, user_chunk=user_chunk, item_chunk=item_chunk
            )
    out = {"peak_mib": rss("VmHWM:") - base, "wall_s": clock.wall, "cpu_s": clock.cpu}
    print(json.dumps(dict(out, checksum=float(ranks.sum()))))


def run_memory(n_items: int, n_users: int, dim: int) -> list[dict]:
    rows = []
    for mode in ("naive", "chunked:1024:65536", "chunked:256:16384"):
        cmd = [sys.executable, __file__, "--memory-probe", mode, str(n_items), str(n_users), str(dim)]
        out = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        row = dict(
            mode=mode,
            items=n_items,
            users=n_users,
            dim=dim,
            peak_mib=round(out["peak_mib"], 1),
            wall_s=round(out["wall_s"], 2),
            cpu_s=round(out["cpu_s"], 2),
            checksum=out["checksum"],
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    assert len({r["checksum"] for r in rows}) == 1, "chunked and naive ranks differ"
    for row in rows[1:]:
        print(f"naive / {row['mode']} peak memory: {rows[0]['peak_mib'] / max(row['peak_mib'], 1e-9):.1f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1,000 users, 10k/100k items (minutes on 2 cores)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 per Tune trial on CPU)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--memory-probe", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        mode, n_items, n_users, dim = args.memory_probe
        memory_probe(mode, int(n_items), int(n_users), int(dim))
        return
    torch.set_num_threads(args.threads)
    sizes, n_users, mean_len = (
        ([10_000, 100_000], 1_000, 10) if args.quick else ([20_000, 300_000], 4_000, 20)
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, quick={args.quick}"
    )
    result = {"models": run_models(sizes, n_users, mean_len), "memory": run_memory(300_000, 1024, 64)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
