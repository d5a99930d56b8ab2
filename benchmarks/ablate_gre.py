"""Ablations of GRE's contrastive recipe on the demo's training domains, measured on held-out users only.

Which parts of the recipe make the demo-trained GRE anisotropic and lose to its base in the
benchmark? Each variant fine-tunes MiniLM in this process (the stage's task, loss, sampler
and engine, without Ray Train or DeepSpeed: one process is the 2-worker run's global batch)
on pairs mined, with the demo's ``pairs`` settings, from the training domains' users
*except* the held-out ones; then it measures the held-out signal of
:mod:`gre_ray.train.signal` (next-item NDCG@10 and pair AUC on held-out users, unrelated-item
cosine), the planted-partner AUC of the training domains (a diagnostic the demo generator
knows; never used to select), and the same after WiSE-FT interpolation with the base
(:mod:`gre_ray.train.wise`). Benchmark-role domains are never read.

    cpujob .venv/bin/python benchmarks/ablate_gre.py --out docs/gre_recipe_ablations.md
    cpujob .venv/bin/python benchmarks/ablate_gre.py --only demo,mixed@30,hn0@30   # variant@steps
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from gre_ray.config.loader import build, to_dict
from gre_ray.demo.generator import DemoDataConfig, generate_domain, ground_truth_table, vocabulary
from gre_ray.demo.transfer import separation
from gre_ray.pairs.domain import domain_items
from gre_ray.pairs.mine import mine_domain
from gre_ray.root_config import load_config
from gre_ray.train.center import fold_center, pooled_fn
from gre_ray.train.config import ContrastiveConfig, resolve_model
from gre_ray.train.engine import Engine
from gre_ray.train.pooling import TextEncoder, embed_texts
from gre_ray.train.rows import split_pairs
from gre_ray.train.sampling import DomainBatchSampler
from gre_ray.train.signal import drop_heldout_users, signal_tasks, score_signal
from gre_ray.train.tasks import ContrastiveTask
from gre_ray.train.wise import interpolate

HELDOUT_USERS = 0.2
GLOBAL_BATCH = 64  # the demo's 2 workers x 32

# name -> overrides of the demo's contrastive section (dotted keys), plus "steps"
VARIANTS: dict[str, dict] = {
    "demo": {},
    "mixed": {"sampler.mode": "mixed"},
    "infonce": {"loss": "infonce"},
    "gist": {"loss": "gist"},
    "t0.1": {"temperature": 0.1},
    "t0.02": {"temperature": 0.02},
    "hn0": {"hard_negatives": 0},
    "hn3": {"hard_negatives": 3},
    "lr1e-5": {"optim.lr": 1e-5},
    "lr2e-4": {"optim.lr": 2e-4},
    "steps20": {"steps": 20},
    "steps160": {"steps": 160},
    "gist-mixed-hn3": {"loss": "gist", "sampler.mode": "mixed", "hard_negatives": 3},
    "unif0.5": {"uniformity": 0.5},
    "t0.2": {"temperature": 0.2},
    "t0.1-unif0.5": {"temperature": 0.1, "uniformity": 0.5},
    "unif2": {"uniformity": 2.0},
    "unif2-lr1e-5": {"uniformity": 2.0, "optim.lr": 1e-5},
}
ALPHAS = (0.25, 0.5, 0.75)
CENTER_ALPHAS = (1.0, 0.5)  # also measured with the mean folded out (gre_ray.train.center)


def setup(seed: int):
    """Training domains' items, held-out-user tasks and the pairs of the other users."""
    config = load_config("configs/demo.yaml", [])
    train_domains = [d for d, s in vocabulary().items() if s["role"] == "train"]
    datas = [generate_domain(DemoDataConfig(seed=seed, size="demo"), d) for d in train_domains]
    items = pa.concat_tables([d.items for d in datas])
    interactions = pa.concat_tables([d.interactions for d in datas])
    truth = pa.concat_tables([ground_truth_table(d) for d in datas]).to_pandas()
    tasks = signal_tasks(items, interactions, train_domains, HELDOUT_USERS, seed)
    kept, held = drop_heldout_users(interactions, HELDOUT_USERS, seed)
    return config, items, kept, held, truth, tasks


def mine(config, items: pa.Table, interactions: pa.Table, vectors: dict[str, np.ndarray]) -> pa.Table:
    """The pairs stage's mining, in this process, guided by the base model's vectors."""
    tables = []
    for domain, vecs in vectors.items():
        its = items.filter(pc.equal(items.column("domain"), domain))
        ids = sorted(its.column("item_id").to_pylist())
        emb = pa.table({"item_id": ids, "embedding": pa.FixedSizeListArray.from_arrays(
            pa.array(vecs.astype(np.float32).ravel()), vecs.shape[1])})
        inter = interactions.filter(pc.equal(interactions.column("domain"), domain))
        result = mine_domain(inter, domain_items(domain, its, emb), config.pairs)
        tables.append(result.table)
    return pa.concat_tables(tables)


def vectors_of(module: torch.nn.Module, tokenizer, tasks, max_length: int) -> list[np.ndarray]:
    module.eval()
    return [embed_texts(module, tokenizer, t.texts, max_length, 128).numpy() for t in tasks]


def evaluate(module, tokenizer, tasks, truth, max_length: int) -> dict[str, float]:
    vecs = vectors_of(module, tokenizer, tasks, max_length)
    out = score_signal(tasks, vecs)
    aucs = []
    for t, v in zip(tasks, vecs):
        gt = truth[truth["domain"] == t.domain]
        pairs = {frozenset(p) for p in zip(gt["category"], gt["partner_category"])}
        aucs.append(separation(t.item_ids, v.astype(np.float64), gt, pairs).shared_auc)
    out["partner_auc"] = float(np.mean(aucs))
    return out


def settings_for(config, overrides: dict) -> tuple[ContrastiveConfig, int | None]:
    data = to_dict(config.contrastive)
    steps = overrides.get("steps")
    for key, value in overrides.items():
        if key == "steps":
            continue
        node = data
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    data["deepspeed"] = {**data["deepspeed"], "enabled": False}
    data["scaling"] = {**data["scaling"], "num_workers": 0}
    data["loop"] = {**data["loop"], "batch_size": GLOBAL_BATCH}
    return build(ContrastiveConfig, data), steps


def train_variant(settings: ContrastiveConfig, pairs: pa.Table, steps: int | None, model_path: str):
    """Fine-tune like the stage does (best epoch not selected: every variant runs all its steps)."""
    split = split_pairs(pairs, settings.loop.heldout_fraction, settings.loop.seed, settings.hard_negatives)
    rows = pairs.filter(pa.array(split.train))
    per_epoch = min(settings.loop.max_steps_per_epoch or 10**9, max(1, rows.num_rows // GLOBAL_BATCH))
    epochs = settings.loop.epochs
    if steps is not None:
        epochs, per_epoch = 1, steps
    task = ContrastiveTask(settings, model_path)
    torch.manual_seed(settings.loop.seed)
    engine = Engine(task.build_model(), settings, max(1, epochs * per_epoch), torch.device("cpu"))
    task.setup(torch.device("cpu"))
    domains = rows.column("domain").to_pylist()
    counts = {d: domains.count(d) for d in set(domains)}
    sampler = DomainBatchSampler(domains, counts, GLOBAL_BATCH, per_epoch, mode=settings.sampler.mode,
                                 weights=settings.sampler.domain_weights, seed=settings.loop.seed)
    losses = []
    for epoch in range(epochs):
        engine.train()
        for idx in sampler.epoch(epoch):
            loss = task.loss(engine, task.collate(rows.take(idx)), gather=False)
            engine.backward(loss)
            engine.step()
            losses.append(float(loss.detach()))
    return task, engine.module, {"steps": len(losses), "train_rows": rows.num_rows,
                                 "first_loss": round(float(np.mean(losses[:5])), 4),
                                 "last_loss": round(float(np.mean(losses[-5:])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="override every variant's steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="", help="append the table (markdown) to this file")
    parser.add_argument("--json", default="", help="write the rows as JSON lines here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    config, items, kept, held, truth, tasks = setup(seed=0)
    model_path = resolve_model(config.contrastive.model)
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    base = TextEncoder(AutoModel.from_pretrained(model_path, add_pooling_layer=False), config.contrastive.pooling)
    max_length = config.contrastive.max_length
    t0 = time.perf_counter()
    base_row = evaluate(base, tokenizer, tasks, truth, max_length)
    vectors = {t.domain: v for t, v in zip(tasks, vectors_of(base, tokenizer, tasks, max_length))}
    pairs = mine(config, items, kept, vectors)
    print(f"held-out users {base_row['heldout_users']}, interactions held out {held}, pairs {pairs.num_rows}, "
          f"setup {time.perf_counter() - t0:.0f}s", flush=True)
    rows = [{"variant": "base (MiniLM)", "alpha": 0.0, **base_row}]
    print(json.dumps(rows[-1]), flush=True)
    base_state = copy.deepcopy(base.state_dict())
    all_texts = [text for t in tasks for text in t.texts]
    fold_center(base.backbone, pooled_fn(base.backbone, tokenizer, max_length), all_texts)
    rows.append({"variant": "base (MiniLM)+center", "alpha": 0.0, **evaluate(base, tokenizer, tasks, truth, max_length)})
    print(json.dumps(rows[-1]), flush=True)
    for spec in names:
        name, _, at = spec.partition("@")  # "mixed@30": variant mixed, 30 steps
        overrides = dict(VARIANTS[name])
        if at or args.steps is not None:
            overrides["steps"] = int(at or args.steps)
        settings, steps = settings_for(config, overrides)
        t0 = time.perf_counter()
        task, module, info = train_variant(settings, pairs, steps, model_path)
        seconds = time.perf_counter() - t0
        tuned = {k: v.detach().clone() for k, v in module.state_dict().items()}
        for alpha in (1.0, *ALPHAS):
            for center in (False, True):
                module.load_state_dict(interpolate(base_state, tuned, alpha))
                if center:
                    if alpha not in CENTER_ALPHAS:
                        continue
                    fold_center(module.backbone, pooled_fn(module.backbone, tokenizer, max_length), all_texts)
                row = {"variant": spec + ("+center" if center else ""), "alpha": alpha,
                       **evaluate(module, tokenizer, tasks, truth, max_length), **info, "train_s": round(seconds, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    if args.out:
        cols = ["variant", "alpha", "next_item_ndcg", "pair_auc", "unrelated_cosine", "partner_auc", "steps", "train_s"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            lines.append("| " + " | ".join(f"{r.get(c, ''):.4f}" if isinstance(r.get(c), float) and c not in
                                           ("alpha", "train_s") else str(r.get(c, "")) for c in cols) + " |")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
