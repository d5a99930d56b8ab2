"""One large ``.gz`` review file: parsed whole by one task (before) vs split over parse tasks (now).

Generates, once, an Amazon Reviews 2023 category of N review lines in the published schema
(``<Category>.jsonl.gz``: ``rating, title, text, images, asin, parent_asin, user_id,
timestamp (ms), helpful_vote, verified_purchase``; power-law users and items), then runs
the ``ingest`` stage through the runner on a local Ray with all cores, on the same files,
one side at a time:

* ``before``: the code before issue #17 (``--before-src``, a ``git archive`` of commit
  ff438d5 put first on ``PYTHONPATH``): one task decompresses and parses the whole file,
  standard-library JSON;
* ``split``: the code now: one streaming task decompresses into pieces of ``chunk_mb``
  that parse tasks consume (at most CPUs + 1 pieces in flight), orjson;
* ``single`` (optional): the code now with ``ingest.gzip_split=false``, to tell the two
  gains apart.

Each side runs in its own process with its own local Ray, warmed up on a 20k-line file.
All sides do the same work after parsing (the driver's assembly: de-duplication, a 5-core,
dense ids, Parquet outputs; token counts are off) and their counts are checked equal. The
item metadata (one line per 10 reviews) is a second, small ``.gz`` file, parsed alongside.
Peak memory is the proportional set size (PSS) of the side's process and every process
below it (raylet, GCS, workers), sampled every 0.2 s. Usage::

    git archive ff438d5 gre_ray | tar -x -C /tmp/gre_before
    .venv/bin/python benchmarks/bench_ingest_split.py --lines 10000000 --before-src /tmp/gre_before --sides before,single,split
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import PeakMemory, _ids, _phrase, write_reviews  # noqa: E402 - the sibling benchmark's helpers


def generate(path: Path, n_reviews: int, seed: int = 0) -> Path:
    """``path`` (``.jsonl.gz``) with ``n_reviews`` review lines, unless it exists already."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_users, n_items = max(10, n_reviews // 8), max(10, n_reviews // 10)
    users, items = _ids(rng, n_users, 28, "A"), _ids(rng, n_items, 10, "B0")
    texts = [_phrase(rng, 12) for _ in range(2000)]
    partial = path.with_suffix(".part")
    with gzip.open(partial, "wt", compresslevel=1) as out:
        write_reviews(out, rng, users, items, texts, n_reviews)
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


def run_once(reviews: Path, meta: Path, run_root: Path, split: bool | None, chunk_mb: float) -> dict:
    """One ingest through the runner; ``split`` None leaves ``ingest.gzip_split`` out (code before #17 lacks it)."""
    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config

    source = {"name": "Arts", "adapter": "amazon2023", "scenario": "e-commerce", "interactions": [str(reviews)],
              "items": [str(meta)], "filters": {"min_user_interactions": 5, "min_item_interactions": 5}}  # fmt: skip
    overrides = ["run.stages=[ingest]", f"run.root={run_root}", f"ingest.sources={json.dumps([source])}",
                 f"ingest.chunk_mb={chunk_mb}", "ingest.token_tokenizer=''"]  # fmt: skip
    if split is not None:
        overrides.append(f"ingest.gzip_split={str(split).lower()}")
    config = load_config(None, overrides)
    with PeakMemory(os.getpid()) as memory:
        t0 = time.perf_counter()
        (outcome,) = run_config(config, force=("ingest",))
        seconds = time.perf_counter() - t0
    stats = outcome.manifest["stats"]["datasets"]["Arts"]
    return {"seconds": round(seconds, 1), "rows": outcome.manifest["rows"]["in"], "peak_bytes": memory.peak,
            "phases": stats["seconds"], "table1": stats["table1"]}  # fmt: skip


def side(args: argparse.Namespace, reviews: Path, meta: Path) -> None:
    """One side in this process: start Ray, warm up, ingest the large file once, print the result as JSON."""
    import logging

    import ray

    import gre_ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", configure_logging=False)
    split = {"before": None, "single": False, "split": True}[args.side]
    work = Path(args.workdir)
    warm = generate(work / "Arts_20000.jsonl.gz", 20_000), generate_meta(work / "meta_Arts_20000.jsonl.gz", 20_000)
    run_once(*warm, work / f"run_warmup_{args.side}", split, args.chunk_mb)  # starts the workers, imports the code
    result = run_once(reviews, meta, work / f"run_{args.side}", split, args.chunk_mb)
    result["code"] = str(Path(gre_ray.__file__).parent)
    ray.shutdown()
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="review lines of the generated file")
    parser.add_argument("--workdir", default="/tmp/gre_bench_split", help="where the generated files and the runs go")
    parser.add_argument("--chunk-mb", type=float, default=64.0, help="piece size of the split path (uncompressed MB)")
    parser.add_argument("--before-src", default="", help="a folder holding gre_ray as before #17 (git archive ff438d5 gre_ray)")
    parser.add_argument("--sides", default="before,split", help="which sides, in order: before, single, split")
    parser.add_argument("--side", default="", help=argparse.SUPPRESS)
    parser.add_argument("--generate-only", action="store_true", help="write the files and stop")
    args = parser.parse_args()
    work = Path(args.workdir)
    t0 = time.perf_counter()
    reviews = generate(work / f"Arts_{args.lines}.jsonl.gz", args.lines)
    meta = generate_meta(work / f"meta_Arts_{args.lines}.jsonl.gz", args.lines)
    if args.side:
        side(args, reviews, meta)
        return
    print(f"files {reviews} ({reviews.stat().st_size / 1e6:,.0f} MB), {meta.name} ({meta.stat().st_size / 1e6:,.0f} MB) "
          f"ready in {time.perf_counter() - t0:.0f}s", flush=True)  # fmt: skip
    if args.generate_only:
        return
    results = {}
    for name in args.sides.split(","):
        env = dict(os.environ)
        if name == "before":
            if not args.before_src:
                parser.error("side 'before' needs --before-src")
            env["PYTHONPATH"] = os.path.abspath(args.before_src)
        command = [sys.executable, os.path.abspath(__file__), "--side", name, "--lines", str(args.lines), "--workdir", os.path.abspath(args.workdir),
                   "--chunk-mb", str(args.chunk_mb)]  # fmt: skip
        # Ray puts the driver's working folder first on its workers' path: run each side from its code's folder
        cwd = os.path.abspath(args.before_src) if name == "before" else str(Path(__file__).resolve().parent.parent)
        out = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode or not lines:
            sys.exit(f"side {name} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        results[name] = json.loads(lines[-1][len("RESULT "):])
        results[name]["load_average_after"] = os.getloadavg()[0]
        print(name, json.dumps(results[name]), flush=True)
    tables = {json.dumps(r["table1"], sort_keys=True) for r in results.values()}
    assert len(tables) == 1, f"the sides disagree: {tables}"
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"Python {platform.python_version()}; {args.lines:,} review lines, {reviews.stat().st_size / 1e6:,.0f} MB .gz")  # fmt: skip
    print("| side | total s | rows/s (total) | parse s | rows/s (parse) | assemble s | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        p = r["phases"]
        print(f"| {name} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {p['parse']:.1f} | {r['rows'] / p['parse']:,.0f} | "
              f"{p['assemble']:.1f} | {r['peak_bytes'] / 2**20:,.0f} |")  # fmt: skip
    (work / f"results_{args.lines}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
