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
* ``ray``: :func:`gre_ray.wiring.embed_pipeline.embed_items_to` on ``--actors`` actors, same texts;
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

``--backends`` runs the backend comparison instead (issue #22), on ``--n`` review-like texts
(:mod:`review_texts`), side by side in one run::

    .venv/bin/python benchmarks/bench_embed.py --n 4000 --backends transformers:float32 \
        transformers:bfloat16 openvino:float32 openvino:bfloat16 --json out.json

* ``sentence_transformers``: ``SentenceTransformer.encode`` in this process, batch 32,
  2 torch threads (the baseline);
* each ``backend:dtype``: ``gre-ray embed`` in a fresh process (Python start, local Ray with
  2 CPUs, 2 actors of one thread, model load, embedding, Parquet write, faiss index), so its
  wall time is what a user waits; the manifest gives the actor stage's time (actor start
  included) and the actors' busy seconds (embedding only).

Each run's vectors are compared with the float32 ``transformers`` run's (the first backend
must be it): the minimum and mean cosine over all texts.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    parser.add_argument("--backends", nargs="+", metavar="BACKEND:DTYPE",
                        help="compare these encoder settings through gre-ray embed (the first: transformers:float32)")
    parser.add_argument("--st-threads", type=int, default=2, help="torch threads of the SentenceTransformer baseline")
    args = parser.parse_args()
    if args.backends:
        results = compare_backends(args)
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return

    import ray
    import torch
    from sentence_transformers import SentenceTransformer

    from gre_ray.embed.encoder import Encoder
    from gre_ray.shipped import shipped_folder
    from gre_ray.wiring.embed_pipeline import embed_items_to
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


def compare_backends(args: argparse.Namespace) -> dict:
    """SentenceTransformer.encode against ``gre-ray embed`` with each backend, on the same review texts."""
    import subprocess

    import pyarrow.parquet as pq
    import torch
    from sentence_transformers import SentenceTransformer

    from gre_ray.embed.model_folder import resolve_model_dir
    from gre_ray.embed.vectors import read_embeddings
    from review_texts import review_texts

    texts = review_texts(args.n)
    ids = [f"r{i:06d}" for i in range(len(texts))]
    results: dict = {"n": len(texts), "mean_words": round(float(np.mean([len(t.split()) for t in texts])), 1),
                     "load_before": os.getloadavg(), "runs": {}}
    work = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    pq.write_table(pa.table({"item_id": ids, "text": texts}), work / "items.parquet")

    torch.set_num_threads(args.st_threads)
    st = SentenceTransformer(str(resolve_model_dir("minilm")), device="cpu")
    st.encode(texts[:64], batch_size=32)
    seconds, st_vectors = timed(lambda: st.encode(texts, batch_size=32, convert_to_numpy=True))
    results["sentence_transformers"] = {"threads": args.st_threads, "batch": 32, "seconds": round(seconds[0], 2),
                                        "texts_per_s": round(len(texts) / seconds[0], 1)}
    del st

    # OpenVINO converts each model once per node; convert before timing and report it apart
    from gre_ray.embed.config import EncoderConfig as Config
    from gre_ray.embed.encoder import resolve_spec
    from gre_ray.embed.openvino_encoder import cache_root, converted_graph

    spec = resolve_spec(Config(backend="openvino"))
    name = next(iter(cache_root().glob(f"*-{spec.pooling.value}-types/model.xml")), None)
    start = time.perf_counter()
    converted_graph(spec, with_types=True)
    results["openvino_conversion_s"] = None if name else round(time.perf_counter() - start, 2)

    reference = None
    for setting in args.backends:
        backend, dtype = setting.split(":")
        out = work / setting.replace(":", "-")
        command = [sys.executable, "-m", "gre_ray.cli", "embed", "--items", str(work / "items.parquet"), "--out",
                   str(out), "--backend", backend, "--dtype", dtype, "--num-cpus", str(args.actors),
                   "--actors", str(args.actors), "--set", f"rows_per_call={args.rows_per_call}"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        total = time.perf_counter() - start
        manifest = json.loads((out / "manifest.json").read_text())
        out_ids, matrix = read_embeddings(Location.of(out / "embeddings"))
        matrix = matrix[np.argsort(out_ids)]
        if reference is None:
            reference = matrix
            st_cos = (reference * st_vectors).sum(1)
            results["sentence_transformers"].update(cosine_min=float(st_cos.min()), cosine_mean=float(st_cos.mean()))
        cos = (matrix * reference).sum(1)
        busiest = max(w["busy_s"] for w in manifest["workers"].values())
        results["runs"][setting] = {
            "end_to_end_s": round(total, 2), "end_to_end_texts_per_s": round(len(texts) / total, 1),
            "stage_s": manifest["wall_s"], "stage_texts_per_s": manifest["texts_per_s"],
            "embedding_s": round(busiest, 2), "embedding_texts_per_s": round(len(texts) / busiest, 1),
            "index_and_write_s": round(manifest["total_s"] - manifest["wall_s"], 2),
            "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "texts_below_0.99": int((cos < 0.99).sum()),
            "tokens": manifest["tokens"], "padding": round(manifest["padded_tokens"] / manifest["tokens"], 3),
            "per_actor": manifest["workers"],
        }
        print(setting, json.dumps(results["runs"][setting]), flush=True)
    base = results["sentence_transformers"]["texts_per_s"]
    results["ratios_to_sentence_transformers"] = {
        name: {key: round(run[f"{key}_texts_per_s"] / base, 3) for key in ("end_to_end", "stage", "embedding")}
        for name, run in results["runs"].items()
    }
    results["load_after"] = os.getloadavg()
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__,
                          "cpu": _cpu_model()}
    return results


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
