"""Benchmark embedding inference: Ray Data actor pool vs one process vs SentenceTransformer.encode.

Usage::

    .venv/bin/python benchmarks/bench_embed.py [--n 1500] [--actors 2] [--json out.json]

Texts: ``--n`` item descriptions of real words from the demo vocabulary (every domain's
brands, adjectives, nouns and category words), lengths drawn log-uniformly from 5 to 300
words (many short titles, a tail of long descriptions), ids unique. Model: the shipped
all-MiniLM-L6-v2 (mean pooling, normalised, 256 tokens), float32 on CPU.

Measurements, each process with one torch thread:

* ``encoder``: :class:`gre_ray.embed.encoder.Encoder` in this process on the ``--n`` texts,
  token-budget batches over length-sorted texts;
* ``sentence_transformers``: ``SentenceTransformer.encode`` with its defaults (batch 32,
  sorted by character length) on the same texts;
* ``ray``: :func:`gre_ray.embed.pipeline.embed_items_to` on ``--actors`` actors, same texts;
  the wall rate includes actor start-up, the steady rate divides rows by the busiest
  actor's compute seconds. Peak RSS per actor comes from ``getrusage`` inside the actor;
* ``batching_*``: the encoder on the first ``--n-batching`` texts, token-budget batches
  over sorted texts vs fixed batches of 32 in input order.

Every rate is also given per CPU second (``time.process_time`` in the process that
computes), which stays comparable when other work shares the machine: wall-clock rates
on a shared machine measure the share of the CPUs each process got.

Padding (padded tokens / real tokens) is also computed, without running the model, for the
token counts of ``--n-padding`` texts: input order in batches of 32, one global sort, and
sorting within calls of 64, 256 and 1,024 rows (what the Ray stage does per actor call).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gre_ray.data.storage import Location  # noqa: E402
from gre_ray.demo.generator import vocabulary  # noqa: E402
from gre_ray.embed.batching import fixed_size_batches, token_budget_batches  # noqa: E402
from gre_ray.embed.config import EmbedConfig, EncoderConfig  # noqa: E402


def make_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of real words, 5 to 300 words long (log-uniform)."""
    words: set[str] = set()
    for spec in vocabulary().values():
        words.update(map(str, spec["brands"]))
        words.update(map(str, spec["adjectives"]))
        for category in spec["categories"].values():
            words.update(map(str, category["nouns"]))
            words.update(map(str, category["words"]))
    pool = np.array(sorted(w for w in words if w.strip()))
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(5), np.log(300), n)).astype(int)
    return [" ".join(rng.choice(pool, k)) for k in lengths]


def padding(lengths: np.ndarray, batches) -> float:
    """Padded tokens over real tokens for a batching of rows with these token counts."""
    return float(sum(len(b) * lengths[b].max() for b in batches) / lengths.sum())


def timed(fn) -> tuple[tuple[float, float], object]:
    """((wall seconds, CPU seconds of this process), result of ``fn()``)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - start, time.process_time() - cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=800, help="texts for the Ray / one process / ST comparison")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors (one CPU each)")
    parser.add_argument("--rows-per-call", type=int, default=200, help="rows per actor call")
    parser.add_argument("--n-batching", type=int, default=200, help="texts for sorted vs unsorted batching")
    parser.add_argument("--n-padding", type=int, default=5000, help="texts whose token counts feed the padding model")
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args()

    import ray
    import torch
    from sentence_transformers import SentenceTransformer

    from gre_ray.embed.encoder import Encoder
    from gre_ray.shipped import shipped_folder
    from gre_ray.embed.pipeline import embed_items_to
    from gre_ray.embed.vectors import read_embeddings

    torch.set_num_threads(1)
    all_texts = make_texts(max(args.n, args.n_padding, args.n_batching))
    texts = all_texts[: args.n]
    table = pa.table({"item_id": [f"i{i:06d}" for i in range(args.n)], "text": texts})
    settings = EmbedConfig(
        encoder=EncoderConfig(model=shipped_folder()), actors=args.actors, rows_per_call=args.rows_per_call
    )
    budget, max_rows = settings.token_budget, settings.max_batch_rows
    encoder = Encoder.from_config(settings.encoder)
    ids, _, truncated = encoder.tokenize(all_texts)
    all_lengths = np.array([len(r) for r in ids])
    tokens = int(all_lengths[: args.n].sum())
    results: dict = {"n": args.n, "tokens": tokens, "mean_tokens": round(tokens / args.n, 1),
                     "truncated": int(truncated[: args.n].sum()), "load_before": os.getloadavg()}
    encoder.encode(texts[:32])  # warm-up

    def rate(seconds: tuple[float, float], n: int = args.n, n_tokens: int = tokens) -> dict:
        wall, cpu = seconds
        return {"seconds": round(wall, 2), "texts_per_s": round(n / wall, 1), "tokens_per_s": round(n_tokens / wall),
                "cpu_s": round(cpu, 2), "texts_per_cpu_s": round(n / cpu, 1)}

    seconds, sorted_run = timed(lambda: encoder.encode_with_stats(texts, token_budget=budget, max_batch_rows=max_rows))
    results["encoder"] = {**rate(seconds), "padding": round(sorted_run.padded_tokens.sum() / tokens, 3)}
    st = SentenceTransformer(settings.encoder.model, device="cpu")
    st.encode(texts[:32])
    seconds, st_vectors = timed(lambda: st.encode(texts, convert_to_numpy=True))
    results["sentence_transformers"] = rate(seconds)
    results["cosine_min_vs_sentence_transformers"] = float((sorted_run.vectors * st_vectors).sum(1).min())
    del st

    subset = all_texts[: args.n_batching]
    subset_tokens = int(all_lengths[: args.n_batching].sum())
    for name, kwargs in (("sorted_budget", {"token_budget": budget, "max_batch_rows": max_rows}),
                         ("unsorted_batches_of_32", {"token_budget": 10**9, "max_batch_rows": 32, "sort": False})):
        seconds, run = timed(lambda: encoder.encode_with_stats(subset, **kwargs))
        results[f"batching_{name}"] = {**rate(seconds, len(subset), subset_tokens),
                                       "padding": round(run.padded_tokens.sum() / subset_tokens, 3)}
    results["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    ray.init(address="local", num_cpus=args.actors, include_dashboard=False, logging_level="ERROR",
             configure_logging=False)
    with tempfile.TemporaryDirectory() as tmp:
        report = embed_items_to(table, settings, Location.of(Path(tmp) / "emb"))
        out_ids, matrix = read_embeddings(Location.of(Path(tmp) / "emb"))
        max_diff = float(np.abs(matrix[np.argsort(out_ids)] - sorted_run.vectors).max())
    ray.shutdown()
    busiest = max(w["busy_s"] for w in report.workers.values())
    results["ray"] = {
        **rate((report.wall_s, sum(w["cpu_s"] for w in report.workers.values()))),
        "steady_texts_per_s": round(args.n / busiest, 1),
        "actors": report.actors,
        "per_actor": report.workers,
        "padding": round(report.padded_tokens / report.tokens, 3),
        "max_abs_diff_vs_encoder": max_diff,
    }

    lengths = all_lengths[: args.n_padding]
    model = {"input_order_batches_of_32": padding(lengths, fixed_size_batches(len(lengths), 32)),
             "global_sort": padding(lengths, token_budget_batches(lengths, budget, max_rows))}
    for size in (64, 256, 1024):
        calls = [np.arange(s, min(s + size, len(lengths))) for s in range(0, len(lengths), size)]
        within = [c[b] for c in calls for b in token_budget_batches(lengths[c], budget, max_rows)]
        model[f"sorted_within_calls_of_{size}"] = padding(lengths, within)
    results["padding_model"] = {k: round(v, 3) for k, v in model.items()}

    single, ray_run = results["encoder"], results["ray"]
    results["ratios"] = {
        "ray_wall_over_n_x_single": round(ray_run["texts_per_s"] / (args.actors * single["texts_per_s"]), 3),
        "ray_steady_over_n_x_single": round(ray_run["steady_texts_per_s"] / (args.actors * single["texts_per_s"]), 3),
        "ray_per_cpu_s_over_single_per_cpu_s": round(ray_run["texts_per_cpu_s"] / single["texts_per_cpu_s"], 3),
        "encoder_over_st_wall": round(single["texts_per_s"] / results["sentence_transformers"]["texts_per_s"], 3),
        "encoder_over_st_per_cpu_s": round(
            single["texts_per_cpu_s"] / results["sentence_transformers"]["texts_per_cpu_s"], 3),
        "sorted_over_unsorted_per_cpu_s": round(results["batching_sorted_budget"]["texts_per_cpu_s"]
                                                / results["batching_unsorted_batches_of_32"]["texts_per_cpu_s"], 3),
    }
    results["load_after"] = os.getloadavg()
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__,
                          "ray": ray.__version__, "cpu": _cpu_model(), "gpu": torch.cuda.is_available()}
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
