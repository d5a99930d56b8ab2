"""Model contracts: SASRec causality, DSSM prefix pooling, every loss goes down, registry errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gre_ray.errors import ConfigError
from gre_ray.recsys import FusionConfig, ItemFeatures, Stage, model_config
from gre_ray.recsys.batches import RetrievalBatches, ranking_batches, to_tensors
from gre_ray.recsys.models import build_model
from gre_ray.recsys.models.layers import Dice

N_ITEMS, MAX_LEN = 30, 8


def ids_model(name, **overrides):
    torch.manual_seed(0)
    return build_model(model_config(name, **overrides), ItemFeatures(N_ITEMS, FusionConfig()), 5, MAX_LEN)


def test_sasrec_is_causal():
    model = ids_model("sasrec", dim=16).eval()
    seq = torch.tensor([[0, 0, 3, 7, 2, 9, 4, 5]])
    changed = seq.clone()
    changed[0, 5:] = torch.tensor([11, 12, 13])
    with torch.no_grad():
        a, b = model.encode(seq), model.encode(changed)
    torch.testing.assert_close(a[0, :5], b[0, :5])  # earlier positions ignore later items
    assert not torch.allclose(a[0, 5:], b[0, 5:])
    assert not a[0, :2].any()  # padding positions are zero
    assert model.user_vectors(seq).shape == (1, 16)


def test_dssm_prefix_pooling_matches_user_tower():
    model = ids_model("dssm", dim=16, tower=(16, 8)).eval()
    seq = torch.tensor([[0, 0, 3, 7, 2, 9, 4, 5]])
    with torch.no_grad():
        prefix = model._prefix_users(seq)  # (1, L, D)
        for t in range(2, MAX_LEN):
            truncated = torch.cat([torch.zeros(1, MAX_LEN - 1 - t, dtype=torch.long), seq[:, : t + 1]], dim=1)
            torch.testing.assert_close(prefix[:, t], model.user_vectors(truncated), rtol=1e-5, atol=1e-6)


def test_retrieval_forward_scores_candidates():
    model = ids_model("sasrec", dim=16).eval()
    seq = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]] * 2)
    cand = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with torch.no_grad():
        scores = model({"seq": seq, "candidates": cand})
        expected = model.user_vectors(seq) @ model.item_vectors().T
    torch.testing.assert_close(scores, torch.gather(expected, 1, cand))


def _train_losses(model, batches_fn, steps=30, lr=5e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for epoch in range(steps):
        total = []
        for batch in batches_fn(np.random.default_rng(epoch)):
            loss = model.loss(to_tensors(batch, "cpu"))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total.append(loss.item())
        losses.append(np.mean(total))
    return losses


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("sasrec", dict(loss="bce", n_negatives=2)),
        ("sasrec", dict(loss="sampled_softmax", n_negatives=4)),
        ("sasrec", dict(loss="full_ce")),
        ("dssm", dict(negatives="sampled", scoring="dot")),
        ("dssm", dict(negatives="in_batch", scoring="cosine")),
    ],
)
def test_retrieval_losses_go_down(name, overrides, retrieval_split):
    split = retrieval_split
    torch.manual_seed(0)
    config = model_config(name, dim=16, **({"tower": (32, 16)} if name == "dssm" else {}), **overrides)
    model = build_model(
        config, ItemFeatures(split.n_items, FusionConfig()), split.n_users, split.config.max_len
    )
    batches = RetrievalBatches(split)
    losses = _train_losses(model, lambda rng: batches.train(32, model.n_negatives, rng), steps=6, lr=1e-2)
    assert losses[-1] < 0.85 * losses[0], losses


@pytest.mark.parametrize("name", ["din", "deepfm"])
def test_ranking_losses_go_down(name, ranking_split):
    split = ranking_split
    torch.manual_seed(0)
    config = model_config(name, dim=8, mlp=(32, 16), **({"attention": (16,)} if name == "din" else {}))
    model = build_model(
        config, ItemFeatures(split.n_items, FusionConfig()), split.n_users, split.config.max_len
    )
    losses = _train_losses(model, lambda rng: ranking_batches(split, Stage.TRAIN, 512, rng), steps=4, lr=1e-2)
    assert losses[-1] < 0.8 * losses[0], losses
    with torch.no_grad():
        batch = to_tensors(next(ranking_batches(split, Stage.VALID, 16)), "cpu")
        assert model.eval()(batch).shape == (16,)


def test_dice_adapts_its_rectification_point():
    dice = Dice(3)
    x = torch.randn(64, 3) * 2 + 5  # batch statistics centre p(s) at the batch mean
    y = dice(x)
    p = (y / x).detach()  # alpha = 0: y = p(s) * s
    assert ((p > 0) & (p < 1)).all()
    assert p[x > x.mean(0)].mean() > 0.5 > p[x < x.mean(0)].mean()


def test_unknown_model_or_key_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'bert4rec'; valid: sasrec, dssm, din, deepfm"):
        model_config("bert4rec")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) n_block for model sasrec; valid: dim, n_blocks"):
        model_config("sasrec", n_block=3)
    with pytest.raises(ConfigError, match="model sasrec: dim 10 is not divisible by n_heads 3"):
        model_config("sasrec", dim=10, n_heads=3)
