"""Tiny training inputs built from the demo generator's planted complements.

Pairs: every item of the training-role domains with its planted complementary partner
(a tent with a sleeping bag), in ``PAIRS_SCHEMA``, with hard negatives drawn from the same
domain. The relation is learnable at the category level, so held-out pairs test whether
training generalises beyond the pairs it saw.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.data.schema import PAIRS_SCHEMA
from gre_ray.demo.generator import DemoDataConfig, generate_domain, ground_truth_table, vocabulary

TRAIN_DOMAINS = [d for d, spec in vocabulary().items() if spec["role"] == "train"]


def planted_pairs(size: str = "tiny", domains: list[str] | None = None, negatives: int = 2, seed: int = 0) -> pa.Table:
    """One pair per (item, partner) of the given domains, with ``negatives`` random same-domain negatives."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {f.name: [] for f in PAIRS_SCHEMA}
    for domain in domains or TRAIN_DOMAINS:
        data = generate_domain(DemoDataConfig(seed=seed, size=size), domain)
        text = dict(zip(data.items.column("item_id").to_pylist(), data.items.column("text").to_pylist()))
        ids = list(text)
        truth = ground_truth_table(data)
        for a, b in zip(truth.column("item_id").to_pylist(), truth.column("partner_id").to_pylist()):
            negs = [ids[i] for i in rng.choice(len(ids), size=negatives + 2, replace=False) if ids[i] not in (a, b)][:negatives]
            columns["domain"].append(domain)
            columns["item_a"].append(a)
            columns["item_b"].append(b)
            columns["text_a"].append(text[a])
            columns["text_b"].append(text[b])
            columns["cooc_score"].append(1.0)
            columns["text_sim"].append(None)
            columns["neg_item_ids"].append(negs)
            columns["neg_texts"].append([text[n] for n in negs])
    return pa.Table.from_pydict(columns, schema=PAIRS_SCHEMA)


def write_parquet(table: pa.Table, folder) -> str:
    """Write ``table`` as ``folder/part-00000.parquet`` and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return str(folder)


def corpus_table(size: str = "tiny", seed: int = 0) -> pa.Table:
    """The items of the training domains as a corpus (domain, item_id, text)."""
    tables = [generate_domain(DemoDataConfig(seed=seed, size=size), d).items for d in TRAIN_DOMAINS]
    return pa.concat_tables(tables).select(["domain", "item_id", "text"])


def run_stage(stage, settings, inputs: dict[str, str], root) -> "StageContext":  # noqa: F821
    """Run one stage on its own (no runner), outputs under ``root/out``; returns its context."""
    from gre_ray.data.storage import Location
    from gre_ray.runner.stage import StageContext

    ctx = StageContext(
        config=None,
        settings=settings,
        output=Location.of(root / "out"),
        inputs={name: Location.of(path) for name, path in inputs.items()},
        run_root=Location.of(root),
    )
    stage.run(ctx)
    return ctx


def contrastive_settings(model: str, **sections):
    """A ContrastiveConfig for tiny test runs; ``sections`` override (nested mappings)."""
    from gre_ray.config.loader import build
    from gre_ray.train.config import ContrastiveConfig

    base = {
        "model": model,
        "max_length": 32,
        "hard_negatives": 1,
        "scaling": {"num_workers": 0},
        "deepspeed": {"zero_stage": 1},
        "optim": {"lr": 3e-3, "warmup_ratio": 0.1},
        "loop": {"epochs": 3, "batch_size": 16, "heldout_fraction": 0.2, "patience": 0},
    }
    for key, value in sections.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return build(ContrastiveConfig, base)


def mined_pairs(items: pa.Table, interactions: pa.Table, min_count: int = 2) -> pa.Table:
    """Pairs of items consumed one after the other by at least ``min_count`` users (no hard negatives).

    A stand-in for the ``pairs`` stage: co-consumption only, no text filter, so the pairs
    mix planted complements, same-category moves and noise, as mined pairs do.
    """
    df = interactions.select(["domain", "user_id", "item_id", "timestamp"]).to_pandas()
    df["pos"] = np.arange(len(df))
    df = df.sort_values(["domain", "user_id", "timestamp", "pos"], kind="stable")
    same = (df["user_id"].to_numpy()[1:] == df["user_id"].to_numpy()[:-1])
    a, b = df["item_id"].to_numpy()[:-1][same], df["item_id"].to_numpy()[1:][same]
    dom = df["domain"].to_numpy()[1:][same]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, counts = np.unique(np.stack([dom, lo, hi], axis=1).astype(str), axis=0, return_counts=True)
    keep = keys[counts >= min_count]
    text = dict(zip(items.column("item_id").to_pylist(), items.column("text").to_pylist()))
    n = len(keep)
    return pa.Table.from_pydict(
        {
            "domain": keep[:, 0].tolist(),
            "item_a": keep[:, 1].tolist(),
            "item_b": keep[:, 2].tolist(),
            "text_a": [text[x] for x in keep[:, 1]],
            "text_b": [text[x] for x in keep[:, 2]],
            "cooc_score": counts[counts >= min_count].astype(np.float32).tolist(),
            "text_sim": [None] * n,
            "neg_item_ids": [None] * n,
            "neg_texts": [None] * n,
        },
        schema=PAIRS_SCHEMA,
    )
