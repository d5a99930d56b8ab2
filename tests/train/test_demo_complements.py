"""On the demo data, fine-tuning MiniLM on mined co-consumption pairs ranks planted complements closer.

The demo generator plants a complementary partner for every item (a tent and a sleeping
bag) whose text shares few words with it, so a general text model ranks it far. Pairs
mined from consecutive co-consumption contain such complements among same-category moves;
after contrastive fine-tuning, each item's partner should rank higher among the items of
its domain than under the base model. Slow: MiniLM trains on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gre_ray.demo.generator import DemoDataConfig, generate_domain, ground_truth_table
from gre_ray.stages.contrastive import ContrastiveStage
from tests.train.data import TRAIN_DOMAINS, contrastive_settings, mined_pairs, run_stage, write_parquet


def partner_ranks(model_path: str, items: pa.Table, truth: pa.Table) -> np.ndarray:
    """Rank (1 = nearest) of each item's planted partner among the other items of its domain."""
    from sentence_transformers import SentenceTransformer

    ids = items.column("item_id").to_pylist()
    domains = np.asarray(items.column("domain").to_pylist())
    vectors = SentenceTransformer(model_path, device="cpu").encode(items.column("text").to_pylist(), batch_size=64)
    where = {item: i for i, item in enumerate(ids)}
    partner = dict(zip(truth.column("item_id").to_pylist(), truth.column("partner_id").to_pylist()))
    ranks = []
    for i, item in enumerate(ids):
        same = np.flatnonzero((domains == domains[i]) & (np.arange(len(ids)) != i))
        scores = vectors[same] @ vectors[i]
        target = vectors[where[partner[item]]] @ vectors[i]
        ranks.append(1 + int((scores > target).sum()))
    return np.asarray(ranks)


@pytest.mark.slow
def test_fine_tuned_model_ranks_planted_complements_closer(ray_session, minilm_path, tmp_path):
    datas = [generate_domain(DemoDataConfig(seed=0, size="demo"), d) for d in TRAIN_DOMAINS]
    items = pa.concat_tables([d.items for d in datas])
    truth = pa.concat_tables([ground_truth_table(d) for d in datas])
    pairs = write_parquet(mined_pairs(items, pa.concat_tables([d.interactions for d in datas])), tmp_path / "pairs")
    settings = contrastive_settings(
        minilm_path,
        max_length=48,
        hard_negatives=0,
        optim={"lr": 5e-5},
        loop={"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 80, "heldout_fraction": 0.05},
    )
    ctx = run_stage(ContrastiveStage(), settings, {"pairs": pairs}, tmp_path)

    base = partner_ranks(minilm_path, items, truth)
    tuned = partner_ranks(ctx.out("model").path, items, truth)
    report = {
        "base": {"mean_rank": base.mean(), "mrr": (1 / base).mean(), "recall@10": (base <= 10).mean()},
        "tuned": {"mean_rank": tuned.mean(), "mrr": (1 / tuned).mean(), "recall@10": (tuned <= 10).mean()},
        "heldout": ctx.stats["initial_metrics"], "after": ctx.stats["history"][-1],
    }
    print(f"\nplanted complements among {len(base)} items: {report}")
    assert tuned.mean() < base.mean()
    assert (1 / tuned).mean() > (1 / base).mean()
