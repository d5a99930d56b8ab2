"""Benchmark collaborative pair mining at 1M and 10M interactions against a pandas self-join.

Usage::

    .venv/bin/python benchmarks/bench_pairs.py [--sizes 1000000 10000000] [--baseline-max 1000000] [--json out.json]

Data: a synthetic power-law generator (faster than the demo generator at this scale):
rows/10 users with log-normal history lengths (median 6, clipped to [2, 200], so the
per-user cap of 200 never fires and the baseline counts the same pairs), rows/20 items with
Zipf-like popularity (p ∝ (rank + 10)^-1), day-resolution timestamps (many ties), and
random 32-d unit vectors as the guide space.

Each measurement runs in a fresh subprocess and reports wall and CPU seconds and the peak
resident memory (``ru_maxrss``) above the memory held after loading the input:

* ``cooc``: sequences (sort, de-duplication, cap) + whole-sequence co-occurrence counts;
* ``full``: the same, then scoring, top-k, thresholds, text similarity and hard negatives
  (:func:`gre_ray.pairs.mine.select_pairs`, default settings);
* ``pandas``: de-duplicate, self-join on the user, keep i < j, group-by count (integer codes,
  not strings: a fair baseline). Its pair count and total are checked against ``cooc``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DIM = 32


def generate(rows: int, path: Path, seed: int = 0) -> int:
    """Write a synthetic interactions Parquet file of about ``rows`` rows; returns the row count."""
    rng = np.random.default_rng(seed)
    n_users, n_items = rows // 10, rows // 20
    lengths = np.clip(np.rint(rng.lognormal(1.8, 1.0, n_users)), 2, 200).astype(np.int64)
    lengths = np.clip((lengths * rows / lengths.sum()).astype(np.int64), 2, 200)
    total = int(lengths.sum())
    weights = (np.arange(n_items) + 10.0) ** -1.0
    items = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(total))
    users = np.repeat(np.arange(n_users), lengths)

    def ids(prefix: str, values: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")

    table = pa.table(
        {
            "user_id": ids("u", users),
            "item_id": ids("i", items),
            "timestamp": pa.array(rng.integers(0, 3650, total) * 86_400, pa.int64()),
        }
    )
    pq.write_table(table, path)
    (path.with_suffix(".items")).write_text(str(n_items))
    return total


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(phase: str, path: Path) -> dict:
    """Run one measurement in this (fresh) process."""
    n_items = int(path.with_suffix(".items").read_text())
    out: dict = {"phase": phase}
    if phase == "pandas":
        import pandas as pd

        df = pd.read_parquet(path, columns=["user_id", "item_id"])
        base, cpu0, t0 = _rss_mb(), _cpu_s(), time.perf_counter()
        df = pd.DataFrame({"u": pd.factorize(df["user_id"])[0], "i": pd.factorize(df["item_id"])[0]})
        df = df.drop_duplicates(["u", "i"])
        joined = df.merge(df, on="u")
        joined = joined[joined["i_x"] < joined["i_y"]]
        counts = joined.groupby(["i_x", "i_y"]).size()
        out.update(pairs=int(len(counts)), count_sum=int(counts.sum()), cooc_s=time.perf_counter() - t0)
    else:
        from gre_ray.pairs import PairsConfig, cooccurrence_counts, prepare_domain, select_pairs
        from gre_ray.pairs.domain import DomainItems

        table = pq.read_table(path)
        rng = np.random.default_rng(1)
        vectors = rng.normal(size=(n_items, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = np.asarray(sorted(f"i{k}" for k in range(n_items)), dtype=object)
        items = DomainItems("bench", ids, np.asarray([f"item {i}" for i in ids], dtype=object), vectors, np.ones(n_items, bool))
        config = PairsConfig()
        base, cpu0, t0 = _rss_mb(), _cpu_s(), time.perf_counter()
        prepared = prepare_domain(table, items, config)
        out["prep_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        counts = cooccurrence_counts(prepared.sequences, config.window)
        out.update(pairs=int(counts.nnz), count_sum=int(counts.sum()), count_s=time.perf_counter() - t1)
        out["cooc_s"] = time.perf_counter() - t0
        if phase == "full":
            t2 = time.perf_counter()
            result = select_pairs(prepared, counts, config)
            out.update(
                select_s=time.perf_counter() - t2,
                candidates=result.stats["candidates"],
                kept=result.stats["kept"],
                negatives_mean=result.stats["negatives"]["mean_found"],
            )
    out.update(
        wall_s=time.perf_counter() - t0,
        cpu_s=_cpu_s() - cpu0,
        input_rss_mb=base,
        peak_rss_mb=_peak_mb(),
        peak_above_input_mb=_peak_mb() - base,
    )
    return out


def run_child(phase: str, path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--data", str(path)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--baseline-max", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data)))
        return

    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"interactions-{size}.parquet"
            t0 = time.perf_counter()
            rows = generate(size, path)
            print(f"generated {rows:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)
            phases = ["cooc", "full"] + (["pandas"] if size <= args.baseline_max else [])
            for phase in phases:
                res = run_child(phase, path) | {"rows": rows}
                results.append(res)
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}), flush=True)
            by = {r["phase"]: r for r in results if r["rows"] == rows}
            if "pandas" in by:
                same = (by["pandas"]["pairs"], by["pandas"]["count_sum"]) == (by["cooc"]["pairs"], by["cooc"]["count_sum"])
                p, c = by["pandas"], by["cooc"]
                print(
                    f"rows {rows:,}: pandas / sparse co-occurrence: wall x{p['cooc_s'] / c['cooc_s']:.1f}, "
                    f"cpu x{p['cpu_s'] / c['cpu_s']:.1f}, peak memory x{p['peak_above_input_mb'] / c['peak_above_input_mb']:.1f}; "
                    f"same counts: {same}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
