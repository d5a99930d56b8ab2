"""SASRec's softmax losses (#30): chunked full CE equals plain CE, the sampled losses' logQ
arithmetic by hand, shared negatives in the batches, ``loss: auto``, the full-CE preflight,
and the demo's pinned settings."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gre_ray.errors import ConfigError
from gre_ray.recsys import FusionConfig, ItemFeatures, model_config
from gre_ray.recsys.batches import RetrievalBatches, SharedNegatives, to_tensors
from gre_ray.recsys.ce_memory import check_full_ce, full_ce_bytes, full_ce_problem, resolve_config, resolve_loss
from gre_ray.recsys.models import build_model
from gre_ray.recsys.models.base import CAND, CAND_LOGQ, NEG, POS, POS_LOGP, POS_LOGQ
from gre_ray.recsys.models.config import SASRecLoss
from gre_ray.recsys.models.sasrec_losses import (
    chunked_cross_entropy,
    full_cross_entropy,
    mixed_softmax_loss,
    shared_softmax_loss,
)
from gre_ray.root_config import load_config

GIB = 2**30


def test_chunked_cross_entropy_equals_plain_cross_entropy_and_its_gradients():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(51, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.randint(1, 51, (37,), generator=gen)
    plain = full_cross_entropy(hidden, weight, target)
    grads = torch.autograd.grad(plain, (hidden, weight))
    for chunk in (1, 5, 37, 100):
        chunked = chunked_cross_entropy(hidden, weight, target, chunk)
        assert chunked.item() == pytest.approx(plain.item(), rel=1e-12)
        for got, want in zip(torch.autograd.grad(chunked, (hidden, weight)), grads):
            assert torch.allclose(got, want, atol=1e-12)
    assert grads[1][0].abs().max() == 0  # the padding item is never a class


def test_shared_softmax_hand_computed():
    hidden = torch.tensor([[1.0, 0.0]])  # one position
    pos_vec = torch.tensor([[2.0, 0.0]])  # positive logit 2
    cand = torch.tensor([3, 4, 7])
    cand_vec = torch.tensor([[1.0, 5.0], [0.0, 1.0], [3.0, 0.0]])  # logits 1, 0, 3
    cand_logq = torch.log(torch.tensor([0.5, 1.0, 2.0]))  # log(K Q)
    pos_logq = torch.log(torch.tensor([0.25]))
    loss = shared_softmax_loss(hidden, pos_vec, pos_logq, torch.tensor([7]), cand_vec, cand, cand_logq)
    # item 7 is the positive: its shared copy is masked; corrected logits 2 - log .25, 1 - log .5, 0 - 0
    logits = [2 - math.log(0.25), 1 - math.log(0.5), 0.0]
    expected = -logits[0] + math.log(sum(math.exp(x) for x in logits))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_mixed_softmax_hand_computed():
    vectors = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]])  # items 0..3
    hidden = torch.tensor([[1.0, 1, 1], [0, 1, 0]])
    target = torch.tensor([2, 2])  # both positions target item 2: one in-batch column
    logp = torch.log(torch.tensor([0.5, 0.5]))
    loss = mixed_softmax_loss(hidden, target, logp, lambda ids: vectors[ids], torch.tensor([1, 2]), n_items=3)
    # in-batch item 2: scores 2 and 2, corrected by log(P p) = log(2 x .5) = 0; uniform items 1 and 2 by
    # log(K / N) = log(2 / 3), item 2's uniform copy an accidental hit (masked); item 1 scores 1 and 0
    rows = [[2.0, 1 - math.log(2 / 3)], [2.0, 0 - math.log(2 / 3)]]
    expected = np.mean([-r[0] + math.log(sum(math.exp(x) for x in r)) for r in rows])
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_shared_negatives_carry_their_log_k_q(retrieval_split):
    batches = RetrievalBatches(retrieval_split)
    counts = batches.counts[1:].astype(float)
    batch = next(batches.train(8, 0, np.random.default_rng(0), shared=SharedNegatives(16, 0.5)))
    assert NEG not in batch and batch[CAND].shape == (16,) and batch[CAND].min() >= 1
    q = (counts + 1) ** 0.5 / ((counts + 1) ** 0.5).sum()
    assert np.allclose(batch[CAND_LOGQ], np.log(16 * q[batch[CAND] - 1]))
    pos = batch[POS]
    share = (counts + 1) / (counts + 1).sum()
    assert np.allclose(batch[POS_LOGQ][pos > 0], np.log(16 * q[pos[pos > 0] - 1]))
    assert np.allclose(batch[POS_LOGP][pos > 0], np.log(share[pos[pos > 0] - 1]))
    again = next(batches.train(8, 0, np.random.default_rng(0), shared=SharedNegatives(16, 0.5)))
    assert (again[CAND] == batch[CAND]).all()  # from the epoch's generator: same stream for every model


@pytest.mark.parametrize("loss", ["shared_softmax", "mixed_softmax", "auto"])
def test_sasrec_sampled_softmax_losses_go_down(loss, retrieval_split):
    split = retrieval_split
    torch.manual_seed(0)
    cfg = model_config("sasrec", dim=16, loss=loss, n_negatives=16)
    model = build_model(cfg, ItemFeatures(split.n_items, FusionConfig()), split.n_users, split.config.max_len)
    batches = RetrievalBatches(split)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for epoch in range(6):
        total = []
        for batch in batches.train(32, model.n_negatives, np.random.default_rng(epoch), shared=model.shared_negatives):
            value = model.loss(to_tensors(batch, "cpu"))
            opt.zero_grad()
            value.backward()
            opt.step()
            total.append(value.item())
        losses.append(np.mean(total))
    assert losses[-1] < 0.85 * losses[0], losses


def test_sasrec_full_ce_above_the_bound_is_chunked_and_equal(retrieval_split):
    split = retrieval_split
    batches = RetrievalBatches(split)
    batch = to_tensors(next(batches.train(32, 0, np.random.default_rng(0))), "cpu")
    values = []
    for bound in (None, 1e-3):  # 1 KiB: a few positions per chunk
        torch.manual_seed(0)
        cfg = model_config("sasrec", dim=16, loss="full_ce", dropout=0.0, full_ce_max_mb=bound)
        model = build_model(cfg, ItemFeatures(split.n_items, FusionConfig()), split.n_users, split.config.max_len)
        values.append(model.loss(batch).item())
    assert values[1] == pytest.approx(values[0], rel=1e-5)


def test_auto_is_full_ce_under_the_bound_and_shared_softmax_above():
    assert full_ce_bytes(999, 10) == 12 * 10 * 1000
    cfg = model_config("sasrec")  # the library default
    assert cfg.loss == SASRecLoss.AUTO and cfg.full_ce_max_mb == 1024
    # 128 x 50 positions: 12 * 6,400 * (N + 1) bytes <= 1 GiB up to N = 13,980
    assert resolve_loss(cfg, 13_980, 6_400) == SASRecLoss.FULL_CE
    assert resolve_loss(cfg, 13_981, 6_400) == SASRecLoss.SHARED_SOFTMAX
    assert resolve_loss(model_config("sasrec", full_ce_max_mb=None), 10**7, 6_400) == SASRecLoss.FULL_CE
    assert resolve_config(cfg, 200_000, 128, 50).loss == SASRecLoss.SHARED_SOFTMAX
    gbce = model_config("sasrec", loss="gbce", n_negatives=4)
    assert resolve_config(gbce, 10**6, 128, 50) is gbce
    assert resolve_config(model_config("din"), 10**6, 128, 50) == model_config("din")


def test_full_ce_preflight_names_the_catalogue_the_memory_and_the_sampled_losses():
    cfg = model_config("sasrec", loss="full_ce")
    assert full_ce_problem(cfg, 20_000, 128, 50, "cuda", 6 * GIB) is None  # 1.4 GiB fits
    line = full_ce_problem(cfg, 1_700_000, 128, 50, "cuda", 6 * GIB)
    assert line == (
        "a catalogue of 1,700,000 items is too large for SASRec's full cross-entropy on cuda: one batch of "
        "128 x 50 positions needs 121.6 GiB of logits, the device has 6.0 GiB; use loss: shared_softmax "
        "(n_negatives: 2048, logQ-corrected) or mixed_softmax (or loss: auto, which switches by itself)"
    )
    assert "\n" not in line
    assert full_ce_problem(model_config("sasrec"), 1_700_000, 128, 50, "cuda", 6 * GIB) is None  # auto
    assert full_ce_problem(cfg, 1_700_000, 128, 50, "cuda", None) is None  # unknown device memory


def test_full_ce_preflight_on_gre_b_settings():
    bench = load_config("configs/gre_b.yaml", ["benchmark.models_params.sasrec.loss=full_ce"]).benchmark
    with pytest.raises(ConfigError, match=r"^benchmark: dataset Books: a catalogue of 1,700,000 items .* needs "
                                          r"121\.6 GiB .* the device has 24\.0 GiB; use loss: shared_softmax"):
        check_full_ce(bench, {"Arts": 90_000, "Books": 1_700_000}, "cuda", 24 * GIB)
    check_full_ce(load_config("configs/gre_b.yaml", []).benchmark, {"Books": 1_700_000}, "cuda", 24 * GIB)
    no_sasrec = SimpleNamespace(models=["din"])
    check_full_ce(no_sasrec, {"Books": 1_700_000}, "cpu", 1)


def test_demo_pins_every_sasrec_setting_whose_default_changed():
    """The demo's leaderboard stays as it was before #30: its SASRec is the same model."""
    params = load_config("configs/demo.yaml", []).benchmark.models_params["sasrec"]
    cfg = model_config("sasrec", **params)
    assert (cfg.loss, cfg.ffn_dim, cfg.activation.value, cfg.dim, cfg.dropout) == (SASRecLoss.FULL_CE, 256, "gelu", 64, 0.2)
    assert (cfg.n_blocks, cfg.n_heads, cfg.tied_output) == (2, 2, True)  # unchanged defaults
    # full CE's memory bound never chunks the demo's batches (240 items, 128 x 20 positions)
    assert full_ce_bytes(240, 128 * 20) < cfg.full_ce_max_mb * 2**20


def test_generated_catalogue_has_popularity_skew_and_is_seeded():
    from gre_ray.recsys.generated import generate_interactions

    frame = generate_interactions(500, 300, 10, seed=1)
    assert frame.equals(generate_interactions(500, 300, 10, seed=1))
    counts = frame["item_id"].value_counts()
    assert counts.iloc[0] > 10 * counts.median()
    assert frame.groupby("user_id").size().min() >= 3
    assert frame["item_id"].str.len().nunique() == 1  # zero-padded: sorted ids are numeric order


def test_a_minimal_config_gets_the_strong_sasrec():
    from gre_ray.bench.config import BenchmarkConfig
    from gre_ray.recsys.train_config import TrainPositions

    bench = BenchmarkConfig(models=["sasrec", "dssm"])
    assert bench.train_for("sasrec").positions == TrainPositions.ALL
    assert bench.train_for("dssm").positions == TrainPositions.LAST
    pinned = BenchmarkConfig(models=["sasrec"], models_train={"sasrec": {"positions": "last"}})
    assert pinned.train_for("sasrec").positions == TrainPositions.LAST
    cfg = model_config("sasrec")
    assert (cfg.loss, cfg.n_negatives, cfg.ffn_dim, cfg.activation.value) == (SASRecLoss.AUTO, 2048, 256, "gelu")


def test_benchmark_preflight_refuses_full_ce_at_gre_b_sizes():
    from gre_ray.stages.benchmark import BenchmarkStage

    config = load_config("configs/gre_b.yaml", ["benchmark.models_params.sasrec.loss=full_ce"])
    # a quarter of a GPU per trial (resources.gpus: 0.25; 24 GiB where none is visible); Table 1's largest catalogue
    with pytest.raises(ConfigError, match=r"^benchmark: dataset \w+: a catalogue of 1,682,439 items is too large for "
                                          r"SASRec's full cross-entropy on cuda: .* needs 120\.3 GiB of logits, the "
                                          r"device has [\d.]+ GiB; use loss: shared_softmax") as caught:
        BenchmarkStage().preflight(config)
    assert "\n" not in str(caught.value)
    BenchmarkStage().preflight(load_config("configs/gre_b.yaml", []))
