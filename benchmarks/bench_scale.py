"""Scale benchmark: the ``coreset`` and ``pairs`` stages from 1 M to 100 M interactions.

Usage::

    .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 10000000 100000000 \\
        [--data-dir /tmp/gre_scale] [--stages coreset pairs] [--json out.jsonl]

Data (generated once per size with vectorised numpy, written to Parquet and reused):
four domains holding 40/30/20/10 % of the users and items; rows/8 users with log-normal
history lengths (median 5, clipped to [2, 150]); rows/100 items (at least 2,000) with
Zipf-like popularity p ∝ (rank + 10)^-1 inside a domain; day-resolution timestamps (ties);
item texts of 6–30 words drawn from 400 topics over a 5,000-word vocabulary, with 1 %
exact copies and 1 % one-word texts; 32-d guide vectors (topic centre + noise, unit
length; copies get their original's vector plus a little noise).

Each size runs in a fresh process with a private local Ray (2 CPUs): a tiny stage publishes
the generated files (hard links) as ``items``, ``interactions`` and ``embeddings``, then
the real ``coreset`` and ``pairs`` stages run with their default settings except
``coreset.budget.total`` (2,000) and ``pairs.rows_per_shard``. Reported per size: wall
seconds per stage, CPU seconds of the driver and of every Ray process together, the peak
resident memory of the driver and of the busiest Ray worker (sampled every 0.2 s), and what
Ray spilled to disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DIM = 32
DOMAINS = {"books": 0.4, "games": 0.3, "fashion": 0.2, "food": 0.1}
FILE_ROWS = 1_000_000


# ---------------------------------------------------------------- data


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _texts(rng: np.random.Generator, topics: np.ndarray, vocab: np.ndarray) -> list[str]:
    n = len(topics)
    lengths = rng.integers(6, 31, n)
    words = (topics[:, None] * 37 + rng.zipf(1.6, (n, 30)) % 600) % len(vocab)  # topic-local vocabulary
    return [" ".join(vocab[w[:m]]) for w, m in zip(words, lengths)]


def generate(rows: int, folder: Path, seed: int = 0) -> dict:
    """Write items, interactions and embeddings of about ``rows`` interactions under ``folder``."""
    rng = np.random.default_rng(seed)
    syllables = np.array(["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "po", "da", "gu"])
    vocab = np.array(["".join(rng.choice(syllables, rng.integers(2, 4))) for _ in range(5000)])
    n_items = max(2000, rows // 100)
    n_users = rows // 8
    started = time.time()
    for sub in ("items", "interactions", "embeddings"):
        (folder / sub).mkdir(parents=True, exist_ok=True)

    item_tables, emb_parts, bounds = [], [], {}
    centres = rng.normal(size=(400, DIM)).astype(np.float32)
    for d, share in DOMAINS.items():
        m = int(n_items * share)
        topics = rng.integers(0, 400, m)
        texts = _texts(rng, topics, vocab)
        vec = centres[topics] + 0.35 * rng.normal(size=(m, DIM)).astype(np.float32)
        copies = rng.choice(m, m // 100, replace=False)
        sources = rng.choice(m, len(copies))
        for c, s in zip(copies, sources):
            texts[c] = texts[s]
        vec[copies] = vec[sources] + 0.01 * rng.normal(size=(len(copies), DIM)).astype(np.float32)
        for c in rng.choice(m, m // 100, replace=False):
            texts[c] = vocab[rng.integers(len(vocab))]
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        ids = _ids(f"{d}-", np.arange(m))
        item_tables.append(pa.table({"domain": pa.array([d] * m), "item_id": ids, "text": pa.array(texts),
                                     "title": pa.nulls(m, pa.string()), "raw_json": pa.nulls(m, pa.string())}))
        emb_parts.append(pa.table({"item_id": ids, "embedding": pa.FixedSizeListArray.from_arrays(
            pa.array(vec.reshape(-1), pa.float32()), DIM)}))
        bounds[d] = m
    pq.write_table(pa.concat_tables(item_tables), folder / "items" / "part-00000.parquet")
    pq.write_table(pa.concat_tables(emb_parts), folder / "embeddings" / "part-00000.parquet")

    lengths = np.clip(np.rint(rng.lognormal(1.6, 0.9, n_users)), 2, 150).astype(np.int64)
    lengths = np.clip((lengths * rows / lengths.sum()).astype(np.int64), 2, 150)
    domain_of = rng.choice(len(DOMAINS), n_users, p=list(DOMAINS.values()))
    names = list(DOMAINS)
    cdfs = {}
    for d, m in bounds.items():
        w = (np.arange(m) + 10.0) ** -1.0
        cdfs[d] = np.cumsum(w) / w.sum()
    total, part, start = 0, 0, 0
    block = max(1, FILE_ROWS // int(lengths.mean()))
    while start < n_users:
        users = np.arange(start, min(n_users, start + block))
        start += block
        ln = lengths[users]
        user_col = np.repeat(users, ln)
        dom = np.repeat(domain_of[users], ln)
        item = np.empty(len(user_col), dtype=np.int64)
        for j, d in enumerate(names):
            at = dom == j
            item[at] = np.searchsorted(cdfs[d], rng.random(int(at.sum())))
        days = np.repeat(rng.integers(0, 3000, len(users)), ln) + rng.integers(0, 30, len(user_col))
        dom_names = np.asarray(names)[dom]
        table = pa.table({
            "domain": pa.array(dom_names),
            "user_id": _ids("u", user_col),
            "item_id": pc.binary_join_element_wise(pa.array(dom_names), _ids("-", item), ""),
            "timestamp": pa.array(1_600_000_000 + days * 86_400, pa.int64()),
            "rating": pa.nulls(len(user_col), pa.float32()),
            "label": pa.nulls(len(user_col), pa.int8()),
        })
        pq.write_table(table, folder / "interactions" / f"part-{part:05d}.parquet")
        total += table.num_rows
        part += 1
    meta = {"rows": total, "items": int(sum(bounds.values())), "users": n_users, "generate_s": round(time.time() - started, 1)}
    (folder / "meta.json").write_text(json.dumps(meta))
    return meta


# ---------------------------------------------------------------- measured run (child process)


class Sampler:
    """Every 0.2 s: RSS and CPU times of this process and of every process under it."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.cpu: dict[int, float] = {}
        self.peak: dict[int, tuple[int, str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self.stop.is_set():
            for p in [self.me, *self.me.children(recursive=True)]:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        self.cpu[p.pid] = t.user + t.system
                        rss = p.memory_info().rss
                        if rss > self.peak.get(p.pid, (0, ""))[0]:
                            self.peak[p.pid] = (rss, " ".join(p.cmdline()[:3])[:80])
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            time.sleep(0.2)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def child(folder: Path, run_root: Path, stages: list[str], rows_per_shard: int, object_store_gb: float) -> dict:
    import ray

    from gre_ray.coreset.config import CoresetConfig
    from gre_ray.pairs.config import PairsConfig
    from gre_ray.runner.runner import run_pipeline
    from gre_ray.runner.stage import Stage, StageContext
    from gre_ray.stages.coreset import CoresetStage
    from gre_ray.stages.pairs import PairsStage

    try:
        from gre_ray.root_config import GreConfig
    except ImportError:
        from gre_ray.config.root import GreConfig

    class Given(Stage):
        """Publishes the generated files (hard links) as the run's inputs."""

        name = "given"
        provides = ("items", "interactions", "embeddings")
        requires = ()

        def settings(self, config):
            return {"folder": str(folder)}

        def run(self, ctx: StageContext) -> None:
            for sub in self.provides:
                ctx.out(sub).mkdir()
                for f in sorted((folder / sub).iterdir()):
                    os.link(f, Path(ctx.out(sub).path) / f.name)

    config = GreConfig()
    config.run.root = str(run_root)
    config.run.stages = ["given", *stages]
    config.coreset = CoresetConfig()
    config.coreset.budget.total = 2000
    config.pairs = PairsConfig(rows_per_shard=rows_per_shard)
    registry = {"given": Given, "coreset": CoresetStage, "pairs": PairsStage}
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             object_store_memory=int(object_store_gb * 2**30))
    import psutil

    disk0 = psutil.disk_io_counters()
    with Sampler() as sampler:
        started = time.time()
        outcomes = run_pipeline(config, registry)
        wall = time.time() - started
        from ray._private.internal_api import memory_summary

        summary = memory_summary(stats_only=True)
    disk1 = psutil.disk_io_counters()
    me = os.getpid()
    workers = {pid: v for pid, v in sampler.peak.items() if pid != me}
    busiest = max(workers.items(), key=lambda kv: kv[1][0]) if workers else (0, (0, ""))
    spilled = [line.strip() for line in summary.splitlines() if "Spilled" in line or "Restored" in line]
    result = {
        "wall_s": round(wall, 1),
        "stages": {o.name: round(o.manifest.get("wall_time_s", 0.0), 1) for o in outcomes if o.name != "given" and o.manifest},
        "cpu_s_driver": round(sampler.cpu.get(me, 0.0), 1),
        "cpu_s_all": round(sum(sampler.cpu.values()), 1),
        "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "busiest_worker_peak_mb": round(busiest[1][0] / 2**20, 1),
        "busiest_worker": busiest[1][1],
        "spill": spilled,
        "disk_write_mb": round((disk1.write_bytes - disk0.write_bytes) / 2**20),
        "outputs": {o.name: o.manifest.get("rows", {}) for o in outcomes if o.manifest},
    }
    for o in outcomes:
        if o.name == "pairs" and o.manifest:
            t = o.manifest["stats"]["totals"]
            result["pairs"] = {"pairs": t["pairs"], "layout": next(iter(o.manifest["stats"]["domains"].values()))["layout"],
                               "support_pairs": sum(s["support_pairs"] for s in o.manifest["stats"]["domains"].values()),
                               "cooccurring_pairs": sum(s["cooccurring_pairs"]
                                                        for s in o.manifest["stats"]["domains"].values())}
    ray.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 100_000_000])
    parser.add_argument("--data-dir", default="/tmp/gre_scale")
    parser.add_argument("--stages", nargs="+", default=["coreset", "pairs"])
    parser.add_argument("--rows-per-shard", type=int, default=2_000_000)
    parser.add_argument("--object-store-gb", type=float, default=4.0)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", nargs=2, metavar=("DATA", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(Path(args.child[0]), Path(args.child[1]), args.stages, args.rows_per_shard,
                                           args.object_store_gb)), flush=True)
        return
    for rows in args.sizes:
        folder = Path(args.data_dir) / f"rows-{rows}"
        if not (folder / "meta.json").exists():
            meta = generate(rows, folder)
            print(f"generated {folder}: {meta}", flush=True)
        meta = json.loads((folder / "meta.json").read_text())
        if args.generate_only:
            continue
        run_root = Path(args.data_dir) / f"run-{rows}-{int(time.time())}"
        cmd = [sys.executable, __file__, "--child", str(folder), str(run_root), "--stages", *args.stages,
               "--rows-per-shard", str(args.rows_per_shard), "--object-store-gb", str(args.object_store_gb)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
            raise SystemExit(f"size {rows}: the measured run failed (exit {proc.returncode})")
        result = {"rows": meta["rows"], "items": meta["items"], "users": meta["users"], **json.loads(line[7:])}
        print(json.dumps(result), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(result) + "\n")
        subprocess.run(["rm", "-rf", str(run_root)], check=False)


if __name__ == "__main__":
    main()
