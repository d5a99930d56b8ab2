"""End to end: every model x fusion learns the planted structure and beats popularity;
text_only ranks cold items; selection never reads test; runs are deterministic."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import gre_ray.recsys.train as train_module
from gre_ray.errors import ConfigError
from gre_ray.recsys import (
    FusionConfig,
    FusionMode,
    SplitConfig,
    Stage,
    TrainConfig,
    make_split,
    model_config,
    popularity_baseline,
    train_and_evaluate,
)
from gre_ray.recsys.evaluation import retrieval_ranks
from gre_ray.recsys.train import fit
from tests.recsys.synthetic import clustered, text_for

SMALL = {
    "sasrec": dict(dim=32, dropout=0.1, n_negatives=2),
    "dssm": dict(dim=32, tower=(64, 32)),
    "din": dict(dim=16, attention=(32,), mlp=(64, 32)),
    "deepfm": dict(dim=16, mlp=(64, 64)),
}
RETRIEVAL = ("sasrec", "dssm")


def fast_cfg(name: str, **extra) -> TrainConfig:
    settings = dict(
        max_epochs=8,
        patience=2,
        lr=1e-2 if name == "dssm" else 5e-3,
        batch_size=64 if name in RETRIEVAL else 512,
    )
    settings.update(extra)
    return TrainConfig(**settings)


@pytest.mark.parametrize("mode", list(FusionMode))
@pytest.mark.parametrize("name", ["sasrec", "dssm", "din", "deepfm"])
def test_every_model_and_fusion_beats_popularity(name, mode, synthetic, retrieval_split, ranking_split):
    split = retrieval_split if name in RETRIEVAL else ranking_split
    result = train_and_evaluate(
        split,
        model_config(name, **SMALL[name]),
        FusionConfig(mode=mode),
        fast_cfg(name),
        text_for(synthetic, split),
    )
    baseline = popularity_baseline(split)
    key, margin = ("ndcg@10", 1.5) if name in RETRIEVAL else ("auc", 1.2)
    assert result.test[key] > margin * baseline.test[key], (result.test[key], baseline.test[key])
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert (result.model, result.fusion, result.metric) == (name, mode.value, key)


def test_explicit_ranking_split_trains():
    data = clustered(n_users=400, explicit=True, seed=3)
    split = make_split(data.interactions, SplitConfig(kind="ranking_explicit", max_len=20, test_frac=0.2))
    cfg = fast_cfg("deepfm", batch_size=128, lr=1e-2)
    result = train_and_evaluate(split, model_config("deepfm", **SMALL["deepfm"]), FusionConfig(), cfg)
    assert result.test["auc"] > popularity_baseline(split).test["auc"] + 0.2


@pytest.mark.parametrize("name", RETRIEVAL)
def test_text_only_ranks_cold_items(name):
    data = clustered(n_users=240, cold_per_cluster=3, seed=5)
    split = make_split(data.interactions, SplitConfig(kind="retrieval", max_len=20))
    text = text_for(data, split)
    cold = np.array(["cold" in split.item_ids[t - 1] for t in split.retrieval_targets(Stage.TEST)])
    assert cold.sum() > 50  # items that occur only as test targets
    hit = {}
    for mode in ("none", "text_only"):
        trained = fit(split, model_config(name, **SMALL[name]), FusionConfig(mode=mode), fast_cfg(name), text)
        ranks = retrieval_ranks(trained.model, trained.eval_kwargs["batches"], Stage.TEST)
        hit[mode] = (ranks[cold] < 20).mean()
    chance = 20 / split.n_items
    assert hit["text_only"] > 3 * chance and hit["text_only"] > 2 * hit["none"], (hit, chance)


def test_selection_reads_only_validation_then_test_once(monkeypatch, retrieval_split):
    stages, records = [], []
    original = train_module.evaluate

    def spy(model, split, stage, **kw):
        stages.append(Stage(stage))
        return original(model, split, stage, **kw)

    monkeypatch.setattr(train_module, "evaluate", spy)
    result = train_and_evaluate(
        retrieval_split,
        model_config("dssm", **SMALL["dssm"]),
        FusionConfig(),
        fast_cfg("dssm", max_epochs=5),
        callback=records.append,
    )
    assert stages == [Stage.VALID] * len(result.history) + [Stage.TEST]
    assert [r["epoch"] for r in records] == list(range(1, len(result.history) + 1))
    values = [h["valid/ndcg@10"] for h in result.history]
    assert result.best_epoch == int(np.argmax(values)) + 1 and result.valid["ndcg@10"] == max(values)
    assert len(result.history) in (5, result.best_epoch + 2)  # budget or patience


def test_same_negatives_for_id_and_text_runs_and_deterministic(monkeypatch, synthetic, retrieval_split):
    seen: dict[str, list[str]] = {}
    original = train_module.to_tensors

    def spy(batch, device):
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(batch[k]).tobytes() for k in sorted(batch)))
        seen.setdefault(current, []).append(digest.hexdigest())
        return original(batch, device)

    monkeypatch.setattr(train_module, "to_tensors", spy)
    text = text_for(synthetic, retrieval_split)
    cfg = fast_cfg("sasrec", max_epochs=2, patience=5)
    results = {}
    for current in ("none", "add", "none-again"):
        mode = current.split("-")[0]
        results[current] = train_and_evaluate(
            retrieval_split, model_config("sasrec", **SMALL["sasrec"]), FusionConfig(mode=mode), cfg, text
        )
    assert seen["none"] == seen["add"] and len(seen["none"]) > 4  # identical batches and negatives
    assert results["none"].test == results["none-again"].test
    assert [h["train_loss"] for h in results["none"].history] == [
        h["train_loss"] for h in results["none-again"].history
    ]


def test_misconfigured_trials_fail_loudly(retrieval_split, ranking_split):
    with pytest.raises(
        ConfigError,
        match="a ranking model needs a ranking_implicit or ranking_explicit split, got a retrieval split",
    ):
        train_and_evaluate(retrieval_split, model_config("din"), FusionConfig(), TrainConfig())
    with pytest.raises(ConfigError, match="fusion.mode=add needs text vectors"):
        train_and_evaluate(ranking_split, model_config("din"), FusionConfig(mode="add"), TrainConfig())
    with pytest.raises(ConfigError, match="train.metric='auc' is not a retrieval metric"):
        train_and_evaluate(retrieval_split, model_config("sasrec"), FusionConfig(), TrainConfig(metric="auc"))
    with pytest.raises(ConfigError, match="train.patience must be >= 1"):
        TrainConfig(patience=0)
