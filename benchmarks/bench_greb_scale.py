"""What one GRE-B trial costs at GRE-B Table 1's sizes, for SASRec, DSSM, DIN and DeepFM.

Usage::

    .venv/bin/python benchmarks/bench_greb_scale.py [--items 1000000 --users 600000 --length 9.5]
        [--models sasrec dssm din deepfm] [--steps 20] [--probe-users 8192] [--zero-chunks 2]
        [--data-dir /tmp/greb_scale] [--json out.json]

1. A catalogue is generated (:func:`gre_ray.recsys.generated.generate_interactions`: Zipf
   popularity, topics, item successors; the catalogue passed to the split, so every item is
   a candidate) and split as ``configs/gre_b.yaml`` says (retrieval leave-one-out and
   ``ranking_implicit`` with 4 negatives, ``max_len`` 50), saved with ``save_split``; a
   probe split holds the first ``--probe-users`` users over the same catalogue; random
   384-d item vectors (MiniLM's width) stand in for an embedding.
2. Each model runs in its own process (so its peak RSS is its own) with ``gre_b.yaml``'s
   settings (``models_params``, ``train_for(model)``, one torch thread as a trial): the split
   is loaded as a trial loads it, the model built as :func:`gre_ray.recsys.train.fit` builds
   it (``loss: auto`` resolved the same way), and ``--steps`` batches of the first epoch's
   stream are trained by the training loop's ``_train_epoch`` after 2 warm-up batches.
   Seconds per 1,000 training targets come from those steps; **seconds per epoch are derived**
   (targets per epoch x s/1000). Evaluation (full ranking over the whole catalogue for
   SASRec/DSSM, the validation samples for DIN/DeepFM) runs ``evaluate`` on the probe
   split's validation users and is scaled linearly to all users (its cost is linear in users).
3. The zero-training tier runs in its own process through the cluster path's own functions:
   ``prepare_scoring`` on the full split and the vectors (timed), then ``score_chunk`` on
   ``--zero-chunks`` chunks of 1,024 test users, scaled to all chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "gre_b.yaml"
MODELS = ("sasrec", "dssm", "din", "deepfm")
TEXT_DIM = 384


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bench():
    from gre_ray.root_config import load_config

    return load_config(str(CONFIG), []).benchmark


def prepare(folder: Path, items: int, users: int, length: float, probe_users: int, seed: int) -> dict:
    """Generate the catalogue, save the splits, the probe splits and the item vectors."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gre_ray.recsys.generated import generate_interactions
    from gre_ray.recsys.split_io import save_split
    from gre_ray.recsys.splits import make_split

    bench = _bench()
    t0 = time.perf_counter()
    frame = generate_interactions(items, users, length, seed=seed, domain="scale")
    width = len(str(items))
    catalogue = np.char.add("i", np.char.zfill(np.arange(items).astype(str), width)).astype(object)
    out = {"items": items, "users": users, "interactions": len(frame), "generate_s": time.perf_counter() - t0}
    probe = frame[frame["user_id"].isin(pd.unique(frame["user_id"])[:probe_users])]
    for kind, cfg in (("retrieval", bench.split.retrieval), ("ranking", bench.split.ranking)):
        t0 = time.perf_counter()
        split = make_split(frame, cfg, dataset="scale", catalogue=catalogue)
        save_split(split, folder / kind)
        out[f"{kind}_split_s"] = time.perf_counter() - t0
        out[f"{kind}_n_items"] = split.n_items
        save_split(make_split(probe, cfg, dataset="scale", catalogue=catalogue), folder / f"{kind}_probe")
        del split
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((items, TEXT_DIM), dtype=np.float32)
    flat = pa.array(vecs.reshape(-1), pa.float32())
    table = pa.table({"item_id": pa.array(catalogue, pa.string()),
                      "embedding": pa.FixedSizeListArray.from_arrays(flat, TEXT_DIM)})
    pq.write_table(table, folder / "vectors.parquet")
    out["prepare_peak_rss_mib"] = _rss_mib()
    return out


def _batches(model, split, train_cfg, rng):
    from gre_ray.recsys.batches import RetrievalBatches, ranking_batches
    from gre_ray.recsys.models.base import RetrievalModel
    from gre_ray.recsys.splits import Stage

    if isinstance(model, RetrievalModel):
        retrieval = RetrievalBatches(split)
        stream = retrieval.train(
            train_cfg.batch_size, model.n_negatives, rng, positions=train_cfg.positions,
            stride=train_cfg.train_stride, exclude_seen=model.negatives_exclude_seen,
            shared=getattr(model, "shared_negatives", None),
        )
        return stream, retrieval.n_targets(train_cfg.positions, train_cfg.train_stride), "pos"
    return ranking_batches(split, Stage.TRAIN, train_cfg.batch_size, rng), len(split.samples[Stage.TRAIN]), "label"


def measure_model(folder: Path, name: str, steps: int) -> dict:
    """One model's training steps, evaluation and peak RSS (run in its own process)."""
    import torch

    from gre_ray.recsys.ce_memory import resolve_config
    from gre_ray.recsys.evaluation import evaluate
    from gre_ray.recsys.fusion import FusionConfig, ItemFeatures
    from gre_ray.recsys.models import build_model, model_config, model_task
    from gre_ray.recsys.models.base import Task
    from gre_ray.recsys.split_io import load_split
    from gre_ray.recsys.splits import Stage
    from gre_ray.recsys.train import _train_epoch

    torch.set_num_threads(1)
    bench = _bench()
    train_cfg = bench.train_for(name)
    model_cfg = model_config(name, **bench.models_params.get(name, {}))
    kind = "retrieval" if model_task(model_cfg) == Task.RETRIEVAL else "ranking"
    t0 = time.perf_counter()
    split = load_split(folder / kind)
    load_s = time.perf_counter() - t0
    items = ItemFeatures(split.n_items, FusionConfig(mode="none"), None, item_ids=split.item_ids)
    model_cfg = resolve_config(model_cfg, split.n_items, train_cfg.batch_size, split.config.max_len)
    torch.manual_seed(0)
    model = build_model(model_cfg, items, split.n_users, split.config.max_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    stream, per_epoch, key = _batches(model, split, train_cfg, np.random.default_rng([split.config.seed, 0, 1]))
    _train_epoch(model, islice(stream, 2), optimizer, "cpu", train_cfg.grad_clip, 1)  # warm-up
    timed = list(islice(stream, steps))
    targets = sum(int((b[key] > 0).sum()) if key == "pos" else len(b[key]) for b in timed)
    t0 = time.perf_counter()
    _train_epoch(model, timed, optimizer, "cpu", train_cfg.grad_clip, 1)
    step_s = time.perf_counter() - t0
    per_1000 = step_s / targets * 1000
    probe = load_split(folder / f"{kind}_probe")
    t0 = time.perf_counter()
    evaluate(model, probe, Stage.VALID, device="cpu", user_chunk=train_cfg.eval_user_chunk,
             item_chunk=train_cfg.eval_item_chunk, ties=train_cfg.ties, batch_size=train_cfg.eval_batch_size,
             mask_history=train_cfg.mask_history)
    probe_eval_s = time.perf_counter() - t0
    if kind == "retrieval":
        scale = split.n_users / probe.n_users
    else:
        scale = len(split.samples[Stage.VALID]) / len(probe.samples[Stage.VALID])
    return {
        "model": name, "loss": getattr(getattr(model_cfg, "loss", None), "value", ""), "n_items": split.n_items,
        "n_users": split.n_users, "train_targets_per_epoch": per_epoch, "batch_size": train_cfg.batch_size,
        "steps": steps, "step_targets": targets, "step_s": step_s, "s_per_1000_targets": per_1000,
        "s_per_epoch_derived": per_1000 * per_epoch / 1000, "probe_users": probe.n_users,
        "probe_eval_s": probe_eval_s, "eval_s_scaled": probe_eval_s * scale, "split_load_s": load_s,
        "n_parameters": sum(p.numel() for p in model.parameters()), "peak_rss_mib": _rss_mib(),
    }


def measure_zero(folder: Path, chunks: int) -> dict:
    """The zero-training tier through prepare_scoring and score_chunk (its own process)."""
    import torch

    from gre_ray.bench.zero_shot_chunks import ScoringJob, prepare_scoring, score_chunk, user_chunks

    torch.set_num_threads(1)
    job = ScoringJob(split=str(folder / "retrieval"), items=str(folder / "vectors.parquet"), dataset="scale")
    t0 = time.perf_counter()
    inputs = prepare_scoring(job, str(folder / "zero_inputs"))
    prepare_s = time.perf_counter() - t0
    todo = user_chunks(inputs.n_users)
    t0 = time.perf_counter()
    for start, stop in todo[:chunks]:
        score_chunk(inputs, start, stop)
    chunk_s = (time.perf_counter() - t0) / min(chunks, len(todo))
    return {
        "model": "zero_training", "n_items": inputs.n_items - 1, "n_users": inputs.n_users, "dim": inputs.dim,
        "prepare_s": prepare_s, "chunks": len(todo), "s_per_chunk": chunk_s,
        "score_s_scaled": chunk_s * len(todo), "peak_rss_mib": _rss_mib(),
    }


def grid_estimate(rows: list[dict], epochs: int, speedups: tuple[float, ...]) -> str:
    """What the full gre_b.yaml grid implies, from one run's rows and GRE-B Table 1's counts.

    Per dataset and model: training seconds per epoch = s/1000 targets x targets / 1000
    (targets: interactions - 3 x users for retrieval, every position; 5 x (interactions -
    3 x users) samples for ranking, 4 negatives each), validation per epoch = the measured
    seconds per (user x item) for full ranking (per sample for ranking), ``epochs`` epochs,
    x (1 ID-only + embeddings) x seeds trials, each dataset costed by the run whose catalogue
    is nearest in size (per-step costs include Adam over the whole item and user tables).
    GPU hours divide one-CPU-thread hours by each assumed speed-up (not measured here).
    """
    from gre_ray.ingest.registry import load_registry

    bench = _bench()
    table1 = load_registry()
    costs = [r for r in rows if r.get("model") in MODELS]
    trials_per = (int(bench.id_only) + len(bench.embeddings) * len(bench.fusions)) * len(bench.seeds)
    total, lines = 0.0, []
    for model in MODELS:
        measured = [r for r in costs if r["model"] == model]
        if not measured:
            continue
        hours = 0.0
        for name in bench.datasets:
            t = table1[name].table1
            # the run whose catalogue is nearest on a log scale
            r = min(measured, key=lambda r: abs(np.log(r["n_items"] / t.items)))
            if model in ("sasrec", "dssm"):
                targets = max(t.interactions - 3 * t.users, 0)
                valid = r["eval_s_scaled"] / (r["n_users"] * r["n_items"]) * t.users * t.items
            else:
                targets = 5 * max(t.interactions - 3 * t.users, 0)
                valid = r["eval_s_scaled"] / (5 * r["n_users"]) * 5 * t.users
            hours += epochs * (r["s_per_1000_targets"] * targets / 1000 + valid) / 3600
        lines.append(f"{model}: {hours:,.0f} h per trial-set of 26 datasets, x{trials_per} trials = "
                     f"{hours * trials_per:,.0f} CPU-thread hours")
        total += hours * trials_per
    lines.append(f"grid: {total:,.0f} CPU-thread hours at {epochs} epochs per trial")
    for speed in speedups:
        lines.append(f"assuming one A10G = {speed:g}x one CPU thread: {total / speed:,.0f} GPU hours, "
                     f"{total / speed / 8:,.1f} h on 8 x g5.2xlarge")
    return "\n".join(lines)


def _child(args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=600_000)
    parser.add_argument("--length", type=float, default=9.5, help="mean interactions per user")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=20, help="timed training batches per model")
    parser.add_argument("--probe-users", type=int, default=8192)
    parser.add_argument("--zero-chunks", type=int, default=2)
    parser.add_argument("--no-zero", action="store_true")
    parser.add_argument("--data-dir", default="/tmp/greb_scale")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run with the same sizes")
    parser.add_argument("--json")
    parser.add_argument("--estimate", nargs="+", help="JSON files of earlier runs: print the full grid's estimate")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per trial assumed by --estimate")
    args = parser.parse_args()
    if args.estimate:
        rows = [r for path in args.estimate for r in json.loads(Path(path).read_text())]
        print(grid_estimate(rows, args.epochs, (50, 200)))
        return
    if args.child:
        what, folder, *rest = args.child
        if what == "prepare":
            row = prepare(Path(folder), *map(int, rest[:2]), float(rest[2]), int(rest[3]), 0)
        elif what == "zero":
            row = measure_zero(Path(folder), int(rest[0]))
        else:
            row = measure_model(Path(folder), what, int(rest[0]))
        print(json.dumps(row))
        return
    folder = Path(args.data_dir) / f"{args.items}-{args.users}-{args.length}"
    rows = []
    if not (args.reuse and (folder / "vectors.parquet").exists()):
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        rows.append(dict(_child(["prepare", str(folder), str(args.items), str(args.users), str(args.length),
                                 str(args.probe_users)]), model="data", wall_s=time.perf_counter() - t0))
        print(json.dumps(rows[-1]), flush=True)
    for name in args.models:
        t0 = time.perf_counter()
        rows.append(dict(_child([name, str(folder), str(args.steps)]), wall_s=time.perf_counter() - t0))
        print(json.dumps(rows[-1]), flush=True)
    if not args.no_zero:
        t0 = time.perf_counter()
        rows.append(dict(_child(["zero", str(folder), str(args.zero_chunks)]), wall_s=time.perf_counter() - t0))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
