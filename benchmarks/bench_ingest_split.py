"""One large ``.gz`` review file: parsed whole by one task (before) vs split over parse tasks (now).

Generates, once, an Amazon Reviews 2023 category of N review lines in the published schema
(``<Category>.jsonl.gz``: ``rating, title, text, images, asin, parent_asin, user_id,
timestamp (ms), helpful_vote, verified_purchase``; power-law users and items), then runs
the ``ingest`` stage through the runner on a local Ray with all cores, twice on the same
file:

* ``single``: ``ingest.gzip_split=false``, the path before issue #17: one task decompresses
  and parses the whole file;
* ``split``: ``ingest.gzip_split=true``: one streaming task decompresses into pieces of
  ``chunk_mb`` that parse tasks consume, at most CPUs + 1 pieces in flight.

Both runs do the same work after parsing (the driver's assembly: de-duplication, a 5-core,
dense ids, Parquet outputs; token counts are off), and their
outputs are checked equal. The item metadata (one line per 10 reviews) is a second, small
``.gz`` file, parsed alongside in both runs. Peak memory is the proportional set size (PSS) of the driver and
every process below it (raylet, GCS, workers), sampled every 0.2 s. Usage::

    .venv/bin/python benchmarks/bench_ingest_split.py --lines 10000000 --workdir /tmp/gre_bench_split
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import PeakMemory, _ids, _phrase  # noqa: E402 - the sibling benchmark's helpers


def generate(path: Path, n_reviews: int, seed: int = 0) -> Path:
    """``path`` (``.jsonl.gz``) with ``n_reviews`` review lines, unless it exists already."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_users, n_items = max(10, n_reviews // 8), max(10, n_reviews // 10)
    users, items = _ids(rng, n_users, 28, "A"), _ids(rng, n_items, 10, "B0")
    texts = [_phrase(rng, 12) for _ in range(2000)]
    user_p = 1.0 / np.arange(1, n_users + 1) ** 0.5
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    user_p, item_p = user_p / user_p.sum(), item_p / item_p.sum()
    partial = path.with_suffix(".part")
    with gzip.open(partial, "wt", compresslevel=1) as out:
        for start in range(0, n_reviews, 200_000):
            n = min(200_000, n_reviews - start)
            u, i = rng.choice(n_users, size=n, p=user_p), rng.choice(n_items, size=n, p=item_p)
            ts = 1_500_000_000_000 + rng.integers(0, 200_000_000_000, n)
            ratings, t = rng.integers(1, 6, n), rng.integers(0, len(texts), n)
            out.write("".join(
                f'{{"rating": {ratings[k]}.0, "title": "Good", "text": "{texts[t[k]]}", "images": [], "asin": "{items[i[k]]}", '
                f'"parent_asin": "{items[i[k]]}", "user_id": "{users[u[k]]}", "timestamp": {ts[k]}, "helpful_vote": 0, '
                f'"verified_purchase": true}}\n'
                for k in range(n)
            ))  # fmt: skip
    partial.rename(path)
    return path


def generate_meta(path: Path, n_reviews: int, seed: int = 0) -> Path:
    """The category's item metadata (``meta_<Category>.jsonl.gz``): one line per item, the published fields."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n_users, n_items = max(10, n_reviews // 8), max(10, n_reviews // 10)
    _ids(rng, n_users, 28, "A")  # the same draws as generate(), so the item ids match
    items = _ids(rng, n_items, 10, "B0")
    partial = path.with_suffix(".part")
    with gzip.open(partial, "wt", compresslevel=1) as out:
        for asin in items:
            record = {"main_category": "Arts & Crafts", "title": _phrase(rng, 6).title(), "average_rating": 4.4,
                      "rating_number": 12, "features": [_phrase(rng, 5)], "description": [_phrase(rng, 10) + "."],
                      "price": None, "images": [], "videos": [], "store": "Acme", "categories": ["Arts"],
                      "details": {"Brand": "Acme"}, "parent_asin": asin, "bought_together": None}  # fmt: skip
            out.write(json.dumps(record) + "\n")
    partial.rename(path)
    return path


def run_once(reviews: Path, meta: Path, run_root: Path, split: bool, chunk_mb: float) -> dict:
    from gre_ray.config.root import load_config
    from gre_ray.pipeline import run_config

    source = {"name": "Arts", "adapter": "amazon2023", "scenario": "e-commerce", "interactions": [str(reviews)],
              "items": [str(meta)], "filters": {"min_user_interactions": 5, "min_item_interactions": 5}}  # fmt: skip
    config = load_config(None, [
        "run.stages=[ingest]", f"run.root={run_root}", f"ingest.sources={json.dumps([source])}", f"ingest.chunk_mb={chunk_mb}",
        "ingest.token_tokenizer=''", f"ingest.gzip_split={str(split).lower()}",
    ])  # fmt: skip
    with PeakMemory(os.getpid()) as memory:
        t0 = time.perf_counter()
        (outcome,) = run_config(config, force=("ingest",))
        seconds = time.perf_counter() - t0
    stats = outcome.manifest["stats"]["datasets"]["Arts"]
    return {"seconds": round(seconds, 1), "rows": outcome.manifest["rows"]["in"], "peak_bytes": memory.peak,
            "phases": stats["seconds"], "table1": stats["table1"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="review lines of the generated file")
    parser.add_argument("--workdir", default="/tmp/gre_bench_split", help="where the generated file and the runs go")
    parser.add_argument("--chunk-mb", type=float, default=64.0, help="piece size of the split path (uncompressed MB)")
    parser.add_argument("--generate-only", action="store_true", help="write the file and stop")
    parser.add_argument("--order", default="single,split", help="which runs, in order")
    args = parser.parse_args()
    work = Path(args.workdir)
    t0 = time.perf_counter()
    reviews = generate(work / f"Arts_{args.lines}.jsonl.gz", args.lines)
    meta = generate_meta(work / f"meta_Arts_{args.lines}.jsonl.gz", args.lines)
    print(f"files {reviews} ({reviews.stat().st_size / 1e6:,.0f} MB), {meta.name} ({meta.stat().st_size / 1e6:,.0f} MB) "
          f"ready in {time.perf_counter() - t0:.0f}s", flush=True)
    if args.generate_only:
        return

    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", configure_logging=False)
    warm = generate(work / "Arts_20000.jsonl.gz", 20_000), generate_meta(work / "meta_Arts_20000.jsonl.gz", 20_000)
    for split in (False, True):
        run_once(*warm, work / "run_warmup", split, args.chunk_mb)  # starts the workers, imports the code
    results = {}
    for name in args.order.split(","):
        results[name] = run_once(reviews, meta, work / f"run_{name}", name == "split", args.chunk_mb)
        results[name]["load_average_after"] = os.getloadavg()[0]
        print(name, json.dumps(results[name]), flush=True)
    ray.shutdown()
    if len(results) == 2:
        assert results["single"]["table1"] == results["split"]["table1"], "the two paths disagree"
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"Python {platform.python_version()}; {args.lines:,} review lines, {reviews.stat().st_size / 1e6:,.0f} MB .gz")  # fmt: skip
    print("| path | total s | rows/s (total) | parse s | rows/s (parse) | assemble s | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        p = r["phases"]
        print(f"| {name} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {p['parse']:.1f} | {r['rows'] / p['parse']:,.0f} | "
              f"{p['assemble']:.1f} | {r['peak_bytes'] / 2**20:,.0f} |")  # fmt: skip
    (work / f"results_{args.lines}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
