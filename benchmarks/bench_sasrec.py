"""Train SASRec with BCE, gBCE and full cross-entropy on RecBole atomic-format datasets.

Usage::

    .venv/bin/python benchmarks/bench_sasrec.py DATA.inter [DATA2.inter ...] [--seeds 0 1 2]
        [--variants old bce gbce full_ce] [--config configs/demo.yaml] [--negatives 256]
        [--unmasked-selection] [--json out.json]
    .venv/bin/python benchmarks/bench_sasrec.py --export-demo DIR   # demo data as .inter files
    .venv/bin/python benchmarks/bench_sasrec.py a.json b.json       # one summary of saved rows

Each ``.inter`` file (RecBole atomic format, Zhao et al. CIKM 2021: a tab-separated file
whose header is ``user_id:token item_id:token [rating:float] [timestamp:float]``) is split
leave-one-out (the project's ``retrieval`` split, with the config's ``max_len``). Every
variant trains with early stopping on validation NDCG@10 (history masked as the config
says, or unmasked with ``--unmasked-selection``, RecBole's protocol) and is tested once,
then reported with and without masking:
test NDCG@10 / Recall@10 / MRR@10, epochs to the best epoch, process CPU seconds per epoch
and per training target, and the peak resident memory of the process that ran the variant
(each variant runs in its own subprocess so the peaks do not mix).

Variants: ``old`` is the demo's SASRec before issue #18 (BCE with one unseen negative,
dim 32, last window only, lr 2e-3, batch 256, at most 15 epochs, patience 3); ``bce``,
``gbce`` and ``full_ce`` take the SASRec settings of ``--config`` (``models_params.sasrec``,
``train`` with ``models_train.sasrec``) and change only the loss: ``bce`` one unseen
negative (the paper), ``gbce`` ``--negatives`` uniform negatives with t = 0.75 (gSASRec),
``full_ce`` the full softmax.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

OLD = ({"dim": 32}, {"lr": 2e-3, "batch_size": 256, "max_epochs": 15, "patience": 3})
LOSSES = {
    "bce": {"loss": "bce", "n_negatives": 1, "negatives": "unseen"},
    "gbce": {"loss": "gbce", "gbce_t": 0.75, "negatives": "uniform"},  # n_negatives: --negatives
    "full_ce": {"loss": "full_ce"},
}
VARIANTS = ["old", *LOSSES]
REPORTED = ("ndcg@10", "recall@10", "mrr@10")


def variant_settings(name: str, config_path: str, negatives: int) -> tuple[dict, dict, int]:
    """(SASRec params, train settings, max_len) of variant ``name``."""
    from gre_ray.config.loader import to_dict
    from gre_ray.root_config import load_config

    bench = load_config(config_path, []).benchmark
    max_len = bench.split.retrieval.max_len
    if name == "old":
        return OLD[0], OLD[1], max_len
    train = {k: v for k, v in to_dict(bench.train_for("sasrec")).items() if k not in ("seed", "device")}
    params = {**bench.models_params.get("sasrec", {}), **LOSSES[name]}
    if name == "gbce":
        params["n_negatives"] = negatives
    return params, train, max_len


def read_atomic(path: str) -> pd.DataFrame:
    """A RecBole ``.inter`` file as an interactions table (timestamps as integer seconds)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table.columns = [c.split(":", 1)[0] for c in table.columns]
    for column in ("user_id", "item_id"):
        if column not in table.columns:
            raise SystemExit(f"{path}: no {column} column (header: {', '.join(table.columns)})")
    stamp = table["timestamp"].astype(float).astype(np.int64) if "timestamp" in table else np.zeros(len(table), np.int64)
    return pd.DataFrame({
        "domain": Path(path).stem,
        "user_id": table["user_id"],
        "item_id": table["item_id"],
        "timestamp": stamp,
    })


def export_demo(folder: str, size: str = "demo", seed: int = 0) -> list[str]:
    """Write the demo generator's benchmark domains as ``<folder>/<domain>.inter`` files."""
    from gre_ray.demo.generator import DemoDataConfig, generate_domain, vocabulary

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    config = DemoDataConfig(seed=seed, size=size)
    paths = []
    for domain, spec in vocabulary().items():
        if spec["role"] != "benchmark":
            continue
        rows = generate_domain(config, domain).interactions.to_pandas()
        path = out / f"{domain}.inter"
        with open(path, "w") as f:
            f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
            for u, i, r, t in zip(rows["user_id"], rows["item_id"], rows["rating"], rows["timestamp"]):
                f.write(f"{u}\t{i}\t{'' if pd.isna(r) else float(r)}\t{int(t)}\n")
        paths.append(str(path))
    return paths


def run_variant(name: str, files: list[str], seeds: list[int], config_path: str, negatives: int,
                unmasked_selection: bool) -> list[dict]:
    """Train variant ``name`` on every file and seed in this process."""
    import torch

    from gre_ray.recsys import FusionConfig, SplitConfig, Stage, TrainConfig, evaluate, fit, make_split, model_config

    torch.set_num_threads(1)
    model_params, train_params, max_len = variant_settings(name, config_path, negatives)
    if unmasked_selection:
        train_params = {**train_params, "mask_history": False}
    rows = []
    for path in files:
        split = make_split(read_atomic(path), SplitConfig(kind="retrieval", max_len=max_len), dataset=Path(path).stem)
        for seed in seeds:
            cfg = TrainConfig(**train_params, seed=seed)
            cpu0 = time.process_time()
            trained = fit(split, model_config("sasrec", **model_params), FusionConfig(), cfg)
            cpu = time.process_time() - cpu0
            epochs = len(trained.history)
            row = {
                "dataset": split.dataset, "variant": name, "seed": seed, "users": split.n_users,
                "items": split.n_items, "best_epoch": trained.best_epoch, "epochs": epochs,
                "train_targets": trained.train_targets, "cpu_s_per_epoch": cpu / epochs,
                "cpu_us_per_target": 1e6 * cpu / epochs / max(trained.train_targets, 1),
            }
            for masked in (True, False):
                test = evaluate(trained.model, split, Stage.TEST, **{**trained.eval_kwargs, "mask_history": masked})
                row.update({f"{'masked' if masked else 'unmasked'}/{k}": test[k] for k in REPORTED})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux → MiB
    for row in rows:
        row["peak_rss_mib"] = peak
    return rows


def summary(rows: list[dict]) -> pd.DataFrame:
    """Mean ± std over seeds of each (dataset, variant), plus the mean over datasets."""
    df = pd.DataFrame(rows)
    metrics = [f"{m}/{k}" for m in ("masked", "unmasked") for k in REPORTED]
    per_seed = df.groupby(["variant", "seed"])[metrics].mean()  # mean over datasets, per seed
    out = per_seed.groupby("variant").agg(["mean", "std"])
    out.columns = [f"{a} {b}" for a, b in out.columns]
    cost = df.groupby("variant")[["best_epoch", "epochs", "train_targets", "cpu_s_per_epoch",
                                  "cpu_us_per_target", "peak_rss_mib"]].mean()
    return out.join(cost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="RecBole .inter files")
    parser.add_argument("--export-demo", metavar="DIR", help="write the demo data as .inter files and exit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--config", default="configs/demo.yaml", help="SASRec settings of the new variants")
    parser.add_argument("--negatives", type=int, default=256, help="gBCE's sampled negatives k")
    parser.add_argument("--unmasked-selection", action="store_true", help="select epochs on unmasked validation")
    parser.add_argument("--json", help="also write every row here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_demo:
        print("\n".join(export_demo(args.export_demo)))
        return
    if not args.files:
        parser.error("give at least one .inter file (or --export-demo DIR)")
    if args.worker:
        print(json.dumps(run_variant(args.worker, args.files, args.seeds, args.config, args.negatives,
                                     args.unmasked_selection)))
        return
    if all(f.endswith(".json") for f in args.files):
        rows = [row for f in args.files for row in json.loads(Path(f).read_text())]
        args.variants = []
        print(f"rows of {', '.join(args.files)}")
    else:
        rows = []
    for name in args.variants:  # one process per variant: its own peak memory
        cmd = [sys.executable, __file__, *args.files, "--worker", name, "--config", args.config,
               "--negatives", str(args.negatives), "--seeds", *map(str, args.seeds)]
        cmd += ["--unmasked-selection"] if args.unmasked_selection else []
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    if not args.variants:
        print(summary(rows).T.to_string(float_format=lambda v: f"{v:.4f}"))
        return
    selection = "unmasked" if args.unmasked_selection else "as configured (masked unless the config says otherwise)"
    print(f"{len(args.files)} dataset(s), seeds {args.seeds}, settings from {args.config}, gBCE k={args.negatives}; "
          f"selection on validation NDCG@10 {selection}; metrics: mean over datasets, then mean ± std over seeds")
    print(summary(rows).T.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
