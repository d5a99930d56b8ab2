"""Ingest throughput and peak memory against a single-process pandas read of the same files.

Generates Amazon Reviews 2023 files (reviews JSONL + item metadata JSONL, the published
schema, plain text as on the Hugging Face mirror) at two sizes, then for each size:

* runs the ``ingest`` stage through the runner (Ray Data parse tasks + driver assembly,
  5-core filter, MiniLM token counts) on a local Ray with all cores, sampling the
  proportional memory (PSS, so the shared object store is not counted twice) of the
  driver and every process below it (raylet, GCS, workers) every 0.2 s;
* reads the same two files with ``pd.read_json(lines=True)`` in a fresh subprocess,
  sampling its memory the same way.

Ray starts, and a 20k-line warm-up ingest starts its worker processes, before the timed
runs (a pipeline pays that once); the warm idle footprint is reported separately. Usage::

    .venv/bin/python benchmarks/bench_ingest.py --sizes 1000000 3000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

WORDS = (
    "waterproof durable compact light brush paint canvas acrylic easel sketch pencil marker glue tape yarn needle "
    "fabric thread scissors ruler palette frame clay bead wire kit set pack large small soft bright color white black"
).split()


def _ids(rng: np.random.Generator, n: int, width: int, prefix: str) -> list[str]:
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    chars = alphabet[rng.integers(0, len(alphabet), size=(n, width - len(prefix)))]
    return [prefix + "".join(row) for row in chars]


def _phrase(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))


def write_reviews(out, rng: np.random.Generator, users: list[str], items: list[str], texts: list[str],
                  n_reviews: int, block: int = 200_000) -> None:
    """``n_reviews`` Amazon 2023 review lines to ``out``: power-law users and items, so the 5-core filters."""
    user_p = 1.0 / np.arange(1, len(users) + 1) ** 0.5  # heavy and light users, as in review data
    item_p = 1.0 / np.arange(1, len(items) + 1) ** 0.9  # a long tail of rarely reviewed items
    user_p, item_p = user_p / user_p.sum(), item_p / item_p.sum()
    for start in range(0, n_reviews, block):
        n = min(block, n_reviews - start)
        u = rng.choice(len(users), size=n, p=user_p)
        i = rng.choice(len(items), size=n, p=item_p)
        ts = 1_500_000_000_000 + rng.integers(0, 200_000_000_000, n)
        ratings = rng.integers(1, 6, n)
        t = rng.integers(0, len(texts), n)
        out.write("".join(
            f'{{"rating": {ratings[k]}.0, "title": "Good", "text": "{texts[t[k]]}", "images": [], "asin": "{items[i[k]]}", '
            f'"parent_asin": "{items[i[k]]}", "user_id": "{users[u[k]]}", "timestamp": {ts[k]}, "helpful_vote": 0, '
            f'"verified_purchase": true}}\n'
            for k in range(n)
        ))  # fmt: skip


def generate(folder: Path, n_reviews: int, seed: int = 0) -> tuple[Path, Path]:
    """Reviews and metadata files in the Amazon 2023 schema; power-law popularity, so the 5-core filters."""
    reviews, meta = folder / f"reviews_{n_reviews}.jsonl", folder / f"meta_{n_reviews}.jsonl"
    if reviews.exists() and meta.exists():
        return reviews, meta
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_users, n_items = max(10, n_reviews // 8), max(10, n_reviews // 10)
    users, items = _ids(rng, n_users, 28, "A"), _ids(rng, n_items, 10, "B0")
    texts = [_phrase(rng, 12) for _ in range(2000)]
    with meta.open("w") as out:
        for asin in items:
            record = {
                "main_category": "Arts & Crafts", "title": _phrase(rng, 8).title(), "average_rating": 4.4,
                "rating_number": int(rng.integers(1, 500)), "features": [_phrase(rng, 6) for _ in range(3)],
                "description": [_phrase(rng, 20) + "."], "price": None,
                "images": [{"thumb": "https://m.media-amazon.com/t.jpg", "large": "https://m.media-amazon.com/l.jpg", "variant": "MAIN", "hi_res": None}],
                "videos": [], "store": "Acme", "categories": ["Arts", "Painting"], "details": {"Brand": "Acme", "Material": "Wood"},
                "parent_asin": asin, "bought_together": None,
            }  # fmt: skip
            out.write(json.dumps(record) + "\n")
    with reviews.open("w") as out:
        write_reviews(out, rng, users, items, texts, n_reviews)
    return reviews, meta


class PeakMemory:
    """Samples the PSS of a process and its descendants in a thread; ``peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root, self.interval, self.peak = psutil.Process(pid), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for proc in procs:
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


PANDAS_CHILD = """
import sys, time, pandas as pd
t0 = time.perf_counter()
reviews = pd.read_json(sys.argv[1], lines=True)
meta = pd.read_json(sys.argv[2], lines=True)
print(time.perf_counter() - t0, len(reviews), len(meta))
"""


def bench_pandas(reviews: Path, meta: Path) -> dict:
    child = subprocess.Popen([sys.executable, "-c", PANDAS_CHILD, str(reviews), str(meta)], stdout=subprocess.PIPE, text=True)
    with PeakMemory(child.pid) as memory:
        out, _ = child.communicate()
    seconds, n_reviews, n_meta = out.split()
    return {"seconds": float(seconds), "rows": int(n_reviews) + int(n_meta), "peak_bytes": memory.peak}


def bench_ingest(reviews: Path, meta: Path, run_root: Path) -> dict:
    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config

    source = {"name": "Arts", "adapter": "amazon2023", "scenario": "e-commerce", "interactions": [str(reviews)],
              "items": [str(meta)], "filters": {"min_user_interactions": 5, "min_item_interactions": 5}}  # fmt: skip
    config = load_config(None, [
        "run.stages=[ingest]", f"run.root={run_root}", f"ingest.sources={json.dumps([source])}", "ingest.chunk_mb=32",
    ])  # fmt: skip
    with PeakMemory(os.getpid()) as memory:
        t0 = time.perf_counter()
        (outcome,) = run_config(config, force=("ingest",))
        seconds = time.perf_counter() - t0
    stats = outcome.manifest["stats"]["datasets"]["Arts"]
    rows = outcome.manifest["rows"]
    return {"seconds": seconds, "rows": rows["in"], "peak_bytes": memory.peak, "table1": stats["table1"],
            "phases": stats["seconds"], "quarantined": rows["quarantined_total"],
            "filtered": outcome.manifest["stats"]["filtered"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000], help="review lines per run")
    parser.add_argument("--workdir", default="/tmp/gre_bench_ingest", help="where the generated files and runs go")
    args = parser.parse_args()
    work = Path(args.workdir)

    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", configure_logging=False)
    warm_reviews, warm_meta = generate(work / "raw", 20_000)
    bench_ingest(warm_reviews, warm_meta, work / "run_warmup")  # starts the worker processes, imports the code
    idle = PeakMemory(os.getpid()).sample()
    results = []
    for size in args.sizes:
        t0 = time.perf_counter()
        reviews, meta = generate(work / "raw", size)
        print(f"[{size:,}] files ready in {time.perf_counter() - t0:.0f}s: {reviews.stat().st_size / 1e6:.0f} MB reviews, "
              f"{meta.stat().st_size / 1e6:.0f} MB metadata", flush=True)  # fmt: skip
        ingest = bench_ingest(reviews, meta, work / f"run_{size}")
        pandas = bench_pandas(reviews, meta)
        results.append({"review_lines": size, "file_mb": round((reviews.stat().st_size + meta.stat().st_size) / 1e6),
                        "load_average": os.getloadavg()[0], "ingest": ingest, "pandas": pandas})  # fmt: skip
        print(json.dumps(results[-1], indent=1), flush=True)
    ray.shutdown()

    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"Python {platform.python_version()}; Ray idle footprint (driver+raylet+GCS+workers) {idle / 2**20:.0f} MiB")  # fmt: skip
    print("| review lines | files MB | ingest s | ingest rows/s | pandas s | pandas rows/s | speed ratio | "
          "ingest peak MiB | pandas peak MiB | memory ratio |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        i, p = r["ingest"], r["pandas"]
        print(f"| {r['review_lines']:,} | {r['file_mb']:,} | {i['seconds']:.1f} | {i['rows'] / i['seconds']:,.0f} | "
              f"{p['seconds']:.1f} | {p['rows'] / p['seconds']:,.0f} | {(i['rows'] / i['seconds']) / (p['rows'] / p['seconds']):.2f} | "
              f"{i['peak_bytes'] / 2**20:,.0f} | {p['peak_bytes'] / 2**20:,.0f} | {i['peak_bytes'] / p['peak_bytes']:.2f} |")  # fmt: skip
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
