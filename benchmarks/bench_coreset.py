"""Benchmark k-center greedy (gre_ray.coreset.kcenter) at up to 1M x 384 against naive versions.

Usage::

    .venv/bin/python benchmarks/bench_coreset.py main --n 1000000 --k 10000 --data clustered
    .venv/bin/python benchmarks/bench_coreset.py scaling --ns 100000 200000 500000 1000000 --k 1000
    .venv/bin/python benchmarks/bench_coreset.py baselines
    (add --json out.jsonl to append every measurement as a JSON line)

Data (float32, L2-normalised rows, seeded):

* ``uniform``: isotropic Gaussian directions, no structure: the worst case, where the
  triangle-inequality pruning skips nothing and every step reads the whole matrix;
* ``clustered``: 1,000 Gaussian topics on the sphere with per-dimension noise 0.04 (mean
  cosine about 0.6 inside a topic, 0 across), closer to text embeddings.

Each measurement runs in a fresh subprocess with one BLAS/torch thread (one per Ray worker,
DESIGN.md) and reports wall seconds, nanoseconds per distance evaluation (wall / (n k)),
and the peak extra resident memory during the call (RSS sampled every 5 ms, minus the RSS
before it, which holds the input). Baselines, on sizes where they finish:

* ``naive``: :func:`kcenter_naive`, all distances to all centers recomputed every step
  (``O(n k^2 d)``, float64);
* ``numpy``: plain-numpy incremental greedy, ``np.linalg.norm(x - x[c], axis=1)`` per step
  (``O(n k d)`` with an ``(n, d)`` temporary per step, no chunking, no blocking);
* ``kcenter`` with ``block=1`` (``--block1``): the chunked one-pass-per-center update,
  to isolate what blocking the passes gains.
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

DIM = 384


def make_data(n: int, kind: str, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """(n, DIM) float32 unit rows, generated in chunks so no full-size temporary exists."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, DIM), dtype=np.float32)
    topics = rng.standard_normal((1000, DIM), dtype=np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        if kind == "uniform":
            x[a:b] = rng.standard_normal((b - a, DIM), dtype=np.float32)
        else:
            x[a:b] = topics[rng.integers(0, 1000, b - a)] + 0.04 * rng.standard_normal((b - a, DIM), dtype=np.float32)
        x[a:b] /= np.linalg.norm(x[a:b], axis=1, keepdims=True)
    return x


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def numpy_unchunked(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Plain-numpy farthest-point greedy: the textbook loop (baseline ``numpy``)."""
    chosen = [int(np.random.default_rng(seed).integers(len(x)))]
    mind = np.linalg.norm(x - x[chosen[0]], axis=1)
    for _ in range(k - 1):
        chosen.append(int(np.argmax(mind)))
        mind = np.minimum(mind, np.linalg.norm(x - x[chosen[-1]], axis=1))
    return np.array(chosen)


def measure_one(spec: dict) -> dict:
    """Run one measurement in this process (called in a fresh subprocess)."""
    import torch

    torch.set_num_threads(1)
    from gre_ray.coreset.kcenter import kcenter_greedy, kcenter_naive

    x = make_data(spec["n"], spec["data"])
    base, peak = _rss(), [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    if spec["algo"] == "kcenter":
        sel = kcenter_greedy(x, spec["k"], block=spec.get("block", 256))
        indices, radius = sel.indices, sel.radius
        spec = {**spec, **sel.extra}
    elif spec["algo"] == "naive":
        sel = kcenter_naive(x, spec["k"])
        indices, radius = sel.indices, sel.radius
    else:
        indices, radius = numpy_unchunked(x, spec["k"]), float("nan")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    sampler.join()
    return {
        **spec,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "ns_per_distance": round(wall / (spec["n"] * spec["k"]) * 1e9, 3),
        "peak_extra_mib": round(max(0, peak[0] - base) / 2**20, 1),
        "input_mib": round(x.nbytes / 2**20, 1),
        "radius": round(float(radius), 6),
        "first_indices": [int(i) for i in indices[:5]],
    }


def run(spec: dict, out: str | None) -> dict:
    """One measurement in a fresh subprocess with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "one", json.dumps(spec)], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"measurement {spec} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["main", "scaling", "baselines", "one"])
    parser.add_argument("spec", nargs="?", help="JSON spec (internal, for 'one')")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--ns", type=int, nargs="+", default=[100_000, 200_000, 500_000, 1_000_000])
    parser.add_argument("--ks", type=int, nargs="+", default=[])
    parser.add_argument("--data", choices=["uniform", "clustered"], nargs="+", default=["uniform", "clustered"])
    parser.add_argument("--block1", action="store_true", help="also time kcenter with block=1 (one pass per center)")
    parser.add_argument("--naive-size", type=int, nargs=2, default=[10_000, 100], metavar=("N", "K"))
    parser.add_argument("--numpy-size", type=int, nargs=2, default=[100_000, 300], metavar=("N", "K"))
    parser.add_argument("--json", default=None, help="append results to this JSON-lines file")
    args = parser.parse_args()

    if args.what == "one":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        print(json.dumps(measure_one(json.loads(args.spec))))
        return
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "python": platform.python_version(), "numpy": np.__version__}), flush=True)
    if args.what == "main":
        for data in args.data:
            run({"algo": "kcenter", "n": args.n, "k": args.k, "data": data}, args.json)
    elif args.what == "scaling":
        for data in args.data:
            for n in args.ns:
                run({"algo": "kcenter", "n": n, "k": args.k, "data": data}, args.json)
            for k in args.ks:
                run({"algo": "kcenter", "n": args.ns[0], "k": k, "data": data}, args.json)
    else:
        (nn, nk), (un, uk) = args.naive_size, args.numpy_size
        for data in args.data:
            for algo, n, k in (("naive", nn, nk), ("kcenter", nn, nk), ("numpy", un, uk), ("kcenter", un, uk)):
                run({"algo": algo, "n": n, "k": k, "data": data}, args.json)
            if args.block1:
                run({"algo": "kcenter", "n": un, "k": uk, "data": data, "block": 1}, args.json)


if __name__ == "__main__":
    main()
