"""One prepared GPU check: encoder inference, contrastive training, recommenders, full ranking.

Usage (one GPU, under 8 minutes with the defaults)::

    .venv/bin/python benchmarks/gpu_check.py --out /tmp/gpu_check.json
    .venv/bin/python benchmarks/gpu_check.py --tiny --out /tmp/cpu_check.json   # seconds, any CPU

Needs torch, transformers and this project only (no Ray). Records to one JSON file:

* ``device``: name, torch/CUDA versions, and the peak dense bf16 FLOP/s from a small table
  of data-centre GPUs (None when the name is not in it; ``--peak-tflops`` overrides).
* ``encoder``: the embedding encoder (:class:`gre_ray.embed.encoder.Encoder`, default the
  shipped all-MiniLM-L6-v2) on review-like texts, length-sorted batches of each
  ``--batch-sizes`` rows, fp32 and bf16: real (non-padding) tokens/s, padded tokens/s, and
  the bound ``peak FLOP/s / FLOPs per token``. FLOPs per token follow Kaplan et al. (2020):
  2 x (non-embedding parameters) + 2 x layers x context x width for attention, at the
  mean padded width; utilisation = padded tokens/s over that bound. fp32 runs on the
  tensor cores' TF32 path only if torch allows it (it does not by default).
* ``contrastive``: one training step of the encoder with the GTE contrastive loss
  (:class:`gre_ray.train.losses.gte.GTEInfoNCELoss`, in-batch negatives, bf16 autocast,
  AdamW): steps/s and pairs/s.
* ``recsys``: SASRec (gBCE, 256 uniform negatives, as in ``configs/gre_b.yaml``) and DIN
  training steps on random batches over ``--items`` items: samples/s (SASRec: positions).
* ``full_ranking``: :func:`gre_ray.recsys.metrics.full_ranking_ranks` of ``--rank-users``
  users over ``--items`` items (64-d), 20 masked history items per user: users/s and peak
  GPU memory (``torch.cuda.max_memory_allocated``).

Every figure is timed after a warm-up, with ``torch.cuda.synchronize`` around the clock.
``--tiny`` shrinks every size so that the script runs on a CPU in seconds; the default
test suite runs it so the script keeps working (``tests/foundation/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from review_texts import review_texts  # noqa: E402

# Dense (not sparse) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s.
PEAK_BF16_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIE": 756.0, "H100": 756.0, "GH200": 989.0,
    "B200": 2250.0, "A100": 312.0, "A10G": 70.0, "A10": 125.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0,
    "RTX 4090": 165.0, "MI300X": 1307.0,
}


def peak_bf16_flops(name: str) -> float | None:
    """Peak dense bf16 FLOP/s of the GPU called ``name`` (longest table key it contains), or None."""
    upper = name.upper()
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key.upper() in upper:
            return PEAK_BF16_TFLOPS[key] * 1e12
    return None


def flops_per_token(config, context: float) -> float:
    """Forward FLOPs per token of a BERT-style encoder (Kaplan et al. 2020, Table 1).

    2 x non-embedding parameters (per layer 4 d^2 attention projections + 2 d f FFN) plus
    2 x layers x context x d for the attention scores and their weighted sum.
    """
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return 2.0 * layers * (4 * d * d + 2 * d * f) + 2.0 * layers * context * d


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int = 1) -> float:
    """Seconds per call of ``fn`` after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def check_encoder(args, device: torch.device, peak: float | None) -> dict:
    from gre_ray.embed.config import DType, EncoderConfig
    from gre_ray.embed.encoder import Encoder

    texts = review_texts(args.texts, seed=0)
    out: dict = {"model": args.model, "texts": len(texts), "runs": []}
    dtypes = [DType.FLOAT32, DType.BFLOAT16] if device.type == "cuda" else [DType.FLOAT32]
    for dtype in dtypes:
        encoder = Encoder.from_config(EncoderConfig(model=args.model, dtype=dtype, device=device.type))
        ids, _, _ = encoder.tokenize(texts)
        real = int(sum(len(row) for row in ids))
        out.setdefault("real_tokens", real)
        for rows in args.batch_sizes:
            budget = rows * encoder.spec.max_length

            def run():
                return encoder.encode_with_stats(texts, token_budget=budget, max_batch_rows=rows)

            seconds = timed(run, device)
            padded = int(run().padded_tokens.sum())
            per_token = flops_per_token(encoder.model.config, padded / len(texts))
            bound = peak / per_token if peak else None
            out["runs"].append({
                "dtype": dtype.value, "batch_rows": rows, "seconds": round(seconds, 4),
                "texts_per_s": round(len(texts) / seconds, 1), "tokens_per_s": round(real / seconds),
                "padded_tokens_per_s": round(padded / seconds), "padding": round(padded / real, 3),
                "gflops_per_token": round(per_token / 1e9, 4),
                "bound_tokens_per_s": round(bound) if bound else None,
                "utilisation": round(padded / seconds / bound, 4) if bound else None,
            })
        out["flops_per_token_at_mean_length"] = flops_per_token(encoder.model.config, real / len(texts))
        del encoder
    return out


def check_contrastive(args, device: torch.device) -> dict:
    from transformers import AutoModel, AutoTokenizer

    from gre_ray.embed.model_folder import resolve_model_dir
    from gre_ray.embed.pooling import Pooling, pool
    from gre_ray.train.losses.base import ContrastiveInputs
    from gre_ray.train.losses.gte import GTEInfoNCELoss

    folder = resolve_model_dir(args.model)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).to(device).train()
    loss_fn = GTEInfoNCELoss(temperature=0.05, gather_negatives=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    texts = review_texts(2 * args.train_pairs, seed=1)
    batches = [tokenizer(part, truncation=True, max_length=args.train_len, padding="max_length", return_tensors="pt").to(device)
               for part in (texts[: args.train_pairs], texts[args.train_pairs:])]

    def embed(batch):
        hidden = model(**batch)[0]
        return torch.nn.functional.normalize(pool(hidden, batch["attention_mask"], Pooling.MEAN), dim=-1)

    losses = []

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            loss = loss_fn.compute_loss_from_embeddings(ContrastiveInputs(query=embed(batches[0]), positive=embed(batches[1])))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))

    seconds = timed(step, device, repeats=args.train_steps)
    return {"pairs_per_step": args.train_pairs, "tokens_per_text": args.train_len, "seconds_per_step": round(seconds, 4),
            "steps_per_s": round(1 / seconds, 2), "pairs_per_s": round(args.train_pairs / seconds, 1),
            "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)]}


def check_recsys(args, device: torch.device) -> dict:
    from gre_ray.recsys.fusion import ItemFeatures
    from gre_ray.recsys.fusion_config import FusionConfig
    from gre_ray.recsys.models.config import DINConfig, NegativeSampling, SASRecConfig, SASRecLoss
    from gre_ray.recsys.models.registry import build_model

    gen = torch.Generator(device="cpu").manual_seed(0)
    n, b, length = args.items, args.rec_batch, args.max_len
    items = ItemFeatures(n, FusionConfig())
    out = {}

    def rand(*shape):
        return torch.randint(1, n + 1, shape, generator=gen).to(device)

    sasrec = build_model(SASRecConfig(loss=SASRecLoss.GBCE, n_negatives=args.negatives,
                                      negatives=NegativeSampling.UNIFORM), items, 1, length).to(device).train()
    batch = {"seq": rand(b, length), "pos": rand(b, length), "neg": rand(b, length, args.negatives)}
    din = build_model(DINConfig(), items, args.users, length).to(device).train()
    din_batch = {"user": torch.randint(0, args.users, (b,), generator=gen).to(device), "hist": rand(b, length),
                 "item": rand(b), "label": torch.randint(0, 2, (b,), generator=gen).float().to(device)}
    for name, model, data, units in (("sasrec", sasrec, batch, b * length), ("din", din, din_batch, b)):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, data=data, optimizer=optimizer):
            loss = model.loss(data)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        seconds = timed(step, device, repeats=args.rec_steps)
        out[name] = {"batch": b, "max_len": length, "items": n, "seconds_per_step": round(seconds, 5),
                     "samples_per_s": round(units / seconds)}
    out["sasrec"]["unit"] = "training positions (B x L), gBCE with %d negatives" % args.negatives
    out["din"]["unit"] = "labelled (user, item) samples"
    return out


def check_full_ranking(args, device: torch.device) -> dict:
    from gre_ray.recsys.metrics import full_ranking_ranks

    gen = torch.Generator(device="cpu").manual_seed(0)
    n, users, dim, hist = args.items, args.rank_users, 64, 20
    item_vecs = torch.randn(n + 1, dim, generator=gen).to(device)
    user_vecs = torch.randn(users, dim, generator=gen).to(device)
    targets = np.random.default_rng(0).integers(1, n + 1, users)
    mask_items = np.sort(np.random.default_rng(1).integers(1, n + 1, (users, hist)), axis=1).ravel()
    indptr = np.arange(0, users * hist + 1, hist)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0

    def run():
        return full_ranking_ranks(user_vecs, item_vecs, targets, indptr, mask_items,
                                  user_chunk=args.user_chunk, item_chunk=args.item_chunk)

    seconds = timed(run, device)
    ranks = run()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"users": users, "items": n, "dim": dim, "masked_per_user": hist, "user_chunk": args.user_chunk,
            "item_chunk": args.item_chunk, "seconds": round(seconds, 4), "users_per_s": round(users / seconds, 1),
            "peak_gpu_mib": round(peak / 2**20, 1) if peak is not None else None,
            "inputs_gpu_mib": round(base / 2**20, 1) if device.type == "cuda" else None,
            "mean_rank": float(ranks.mean())}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: runs on a CPU in seconds (the test)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--model", default="minilm", help="encoder model (default: the shipped MiniLM)")
    parser.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s when the table lacks the GPU")
    parser.add_argument("--texts", type=int, default=20_000, help="texts per encoder run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--train-pairs", type=int, default=256, help="pairs per contrastive step")
    parser.add_argument("--train-len", type=int, default=128, help="tokens per training text")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--items", type=int, default=1_700_000, help="catalogue size (recommenders, full ranking)")
    parser.add_argument("--users", type=int, default=1_000_000, help="DIN's user embedding rows")
    parser.add_argument("--rec-batch", type=int, default=1024)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--rec-steps", type=int, default=20)
    parser.add_argument("--rank-users", type=int, default=20_000)
    parser.add_argument("--user-chunk", type=int, default=4096)
    parser.add_argument("--item-chunk", type=int, default=262_144)
    parser.add_argument("--sections", nargs="+", default=["encoder", "contrastive", "recsys", "full_ranking"])
    args = parser.parse_args(argv)
    if args.tiny:
        args.texts, args.batch_sizes, args.train_pairs, args.train_len, args.train_steps = 24, [4, 16], 4, 16, 2
        args.items, args.users, args.rec_batch, args.max_len, args.negatives, args.rec_steps = 500, 50, 8, 10, 8, 2
        args.rank_users, args.user_chunk, args.item_chunk = 64, 16, 128
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else (peak_bf16_flops(name) if device.type == "cuda" else None)
    results: dict = {"device": {"type": device.type, "name": name, "peak_bf16_flops": peak, "torch": torch.__version__,
                                "cuda": torch.version.cuda, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32},
                     "args": {k: v for k, v in vars(args).items() if k != "out"}}
    checks = {"encoder": lambda: check_encoder(args, device, peak), "contrastive": lambda: check_contrastive(args, device),
              "recsys": lambda: check_recsys(args, device), "full_ranking": lambda: check_full_ranking(args, device)}
    started = time.perf_counter()
    for section in args.sections:
        t0 = time.perf_counter()
        results[section] = checks[section]()
        results[section]["wall_s"] = round(time.perf_counter() - t0, 2)
        print(f"{section}: {json.dumps(results[section])}", flush=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")  # partial results survive a timeout
    results["wall_s"] = round(time.perf_counter() - started, 2)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
