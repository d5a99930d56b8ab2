"""Scale benchmark of GRE training: ``gre.yaml``'s stage list at three corpus sizes.

Usage::

    .venv/bin/python benchmarks/bench_gre_scale.py --items 12000 60000 360000 \\
        [--data-dir /tmp/gre_train_scale] [--json out.jsonl] [--set key=value ...]

What runs: ``configs/gre.smoke.yaml`` (the recipe of ``configs/gre.yaml``, small: the same
stages after ``ingest``, the same coreset, pairs and contrastive settings) with the demo
generator's six training domains in place of the registry's raw files, at
``items / 6`` items and ``items * 10 / 12 / 6`` users per domain (the generator's mean
history is 12, so interactions are about 10x items); a tiny encoder built from a config (2
layers, hidden 32, MiniLM's tokenizer, position embeddings zeroed) as the embed stage's,
the MLM's and the contrastive guide's model; ``gre.yaml``'s candidate pool for the held-out
signal (100,000 items per domain); a fixed coreset budget (1,200, as ``gre.yaml``'s 2 M is
fixed whatever the corpus) and a fixed number of training steps per epoch (a training
step's cost does not depend on the corpus; what does is everything around the steps:
reading pairs, the held-out signal, the WiSE-FT mix).

Each size runs in two fresh processes with a private local Ray (2 CPUs): the first writes
the demo data (the generator is not a GRE stage; ``gre.yaml`` ingests files instead), the
second runs the GRE stages and is the one measured. Every 0.2 s a sampler reads the resident
memory of the driver and of every process under it (Ray's raylet, GCS and workers,
including Ray Train's); each sample is attributed to the stage running at that moment (from
the stage manifests' start and end). Reported per stage: wall seconds, driver peak, the
largest single worker's peak; per run: what Ray spilled (its memory summary) and the
stage summaries' row counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "gre.smoke.yaml"
TRAIN_DOMAINS_OF_DEMO = 6
STEPS_PER_EPOCH = 20
CORESET_BUDGET = 1_200  # fixed, as gre.yaml's 2 M is: the corpus grows, the coreset does not
SIGNAL_POOL = 100_000  # gre.yaml's candidate pool per domain


def tiny_encoder(folder: Path) -> str:
    """A tiny random BERT with MiniLM's tokenizer, saved as a Hugging Face folder (once)."""
    if (folder / "config.json").exists():
        return str(folder)
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from gre_ray.shipped import shipped_folder

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(shipped_folder())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    model = BertModel(config)
    # A random BERT's position and segment embeddings add the same vector to every text, so
    # any two texts score cosine > 0.95 and the coreset's near-duplicate pass would keep a
    # handful of items; without them the tiny model's vectors spread (median cosine 0.28).
    with torch.no_grad():
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def overrides(items: int, run_root: Path, model: str, extra: list[str]) -> list[str]:
    """The settings that size the smoke recipe to ``items`` items in all."""
    from gre_ray.demo.generator import vocabulary

    train = sorted(name for name, spec in vocabulary().items() if spec["role"] == "train")
    assert len(train) == TRAIN_DOMAINS_OF_DEMO, train
    per_domain = items // len(train)
    users = max(12, round(per_domain * 10 / 12))
    return [
        f"run.root={run_root}",
        f"demo_data.domains={json.dumps(train)}",
        f"demo_data.items_per_domain={per_domain}",
        f"demo_data.users_per_domain={users}",
        f"embed.encoder.model={model}",
        f"mlm.model={model}",
        f"contrastive.guide_model={model}",
        f"coreset.budget.total={CORESET_BUDGET}",
        f"coreset.budget.min_per_domain={CORESET_BUDGET // 20}",
        f"coreset.budget.max_per_domain={CORESET_BUDGET}",
        f"contrastive.signal_pool={SIGNAL_POOL}",
        f"mlm.loop.max_steps_per_epoch={STEPS_PER_EPOCH}",
        f"contrastive.loop.max_steps_per_epoch={STEPS_PER_EPOCH}",
        *extra,
    ]


class Sampler:
    """Every 0.2 s, the time and the RSS of this process and of each process under it; every
    second, the CPU seconds that processes outside this tree used (the machine's other load)."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.samples: list[tuple[float, int, int, str]] = []  # (time, driver rss, largest other rss, its name)
        self.other_cpu_s = 0.0  # CPU seconds of processes outside the benchmark's tree
        self._other: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _count_others(self, tree: set[int]) -> None:
        import psutil

        seen: dict[int, float] = {}
        for p in psutil.process_iter(["pid", "cpu_times"]):
            times = p.info["cpu_times"]
            if p.info["pid"] in tree or times is None:
                continue
            seen[p.info["pid"]] = times.user + times.system
            if p.info["pid"] in self._other:  # a process first seen now adds from its next sample on
                self.other_cpu_s += max(0.0, seen[p.info["pid"]] - self._other[p.info["pid"]])
        self._other = seen

    def _run(self) -> None:
        import psutil

        tick = 0
        while not self.stop.is_set():
            now = time.time()
            driver = self.me.memory_info().rss
            largest, name = 0, ""
            children = self.me.children(recursive=True)
            for p in children:
                try:
                    rss = p.memory_info().rss
                    if rss > largest:
                        largest, name = rss, " ".join(p.cmdline()[:2])[:60]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.samples.append((now, driver, largest, name))
            if tick % 5 == 0:
                self._count_others({self.me.pid, *(c.pid for c in children)})
            tick += 1
            time.sleep(0.2)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def child(items: int, run_root: Path, model: str, extra: list[str], prepare: bool, object_store_gb: float) -> dict:
    import ray

    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config

    sets = overrides(items, run_root, model, extra)
    if prepare:
        run_config(load_config(SMOKE, [*sets, "run.stages=[demo_data]"]))
        return {}
    config = load_config(SMOKE, sets)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             object_store_memory=int(object_store_gb * 2**30))
    with Sampler() as sampler:
        started = time.time()
        outcomes = run_config(config)
        wall = time.time() - started
        from ray._private.internal_api import memory_summary

        summary = memory_summary(stats_only=True)
    ray.shutdown()
    stages = {}
    for o in outcomes:
        if o.name == "demo_data" or not o.manifest:
            continue
        end = datetime.fromisoformat(o.manifest["finished_at"]).timestamp() + 1.0
        start = end - 1.0 - o.manifest["wall_time_s"] - 1.0
        inside = [s for s in sampler.samples if start <= s[0] <= end]
        top = max(inside, key=lambda s: s[2]) if inside else (0, 0, 0, "")
        stages[o.name] = {
            "wall_s": round(o.manifest["wall_time_s"], 1),
            "driver_peak_mb": round(max((s[1] for s in inside), default=0) / 2**20),
            "worker_peak_mb": round(top[2] / 2**20),
            "worker": top[3],
            "rows_out": o.manifest.get("rows", {}).get("out"),
        }
    return {
        "wall_s": round(wall, 1),
        "other_cpu_s": round(sampler.other_cpu_s, 1),
        "driver_peak_mb": round(max(s[1] for s in sampler.samples) / 2**20),
        "worker_peak_mb": round(max(s[2] for s in sampler.samples) / 2**20),
        "stages": stages,
        "spill": [line.strip() for line in summary.splitlines() if "Spilled" in line or "Restored" in line],
    }


def run_child(items: int, run_root: Path, model: str, args: argparse.Namespace, prepare: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(items), str(run_root), model,
           "--object-store-gb", str(args.object_store_gb)]
    for s in args.set:
        cmd += ["--set", s]
    if prepare:
        cmd.append("--prepare")
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(proc.stdout[-3000:], proc.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"{items} items: the {'data' if prepare else 'measured'} run failed (exit {proc.returncode})")
    return json.loads(line[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[12_000, 60_000, 360_000])
    parser.add_argument("--data-dir", default="/tmp/gre_train_scale")
    parser.add_argument("--object-store-gb", type=float, default=4.0)
    parser.add_argument("--set", action="append", default=[], help="extra config override (repeatable)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep", action="store_true", help="keep each run root (default: removed after)")
    parser.add_argument("--child", nargs=3, metavar=("ITEMS", "RUN", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(int(args.child[0]), Path(args.child[1]), args.child[2], args.set, args.prepare,
                       args.object_store_gb)
        print("RESULT " + json.dumps(result), flush=True)
        return
    data_dir = Path(args.data_dir)
    model = tiny_encoder(data_dir / "tiny-bert")
    for items in args.items:
        run_root = data_dir / f"run-{items}"
        subprocess.run(["rm", "-rf", str(run_root)], check=False)
        t0 = time.time()
        run_child(items, run_root, model, args, prepare=True)
        generate_s = time.time() - t0
        load_before = os.getloadavg()[0]
        result = {"items": items, "generate_s": round(generate_s, 1),
                  **run_child(items, run_root, model, args, prepare=False)}
        result["load_before"], result["load_after"] = round(load_before, 2), round(os.getloadavg()[0], 2)
        demo = json.loads((run_root / "demo_data" / "manifest.json").read_text())
        result["interactions"] = demo.get("stats", {}).get("interactions") or demo["rows"]["out"]
        print(json.dumps(result), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(result) + "\n")
        if not args.keep:
            subprocess.run(["rm", "-rf", str(run_root)], check=False)


if __name__ == "__main__":
    main()
