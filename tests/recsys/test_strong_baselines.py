"""Issue #18 against hand-computed values: gBCE, every-position batching, unmasked ranking,
MRR@K, the UniSRec adaptor, SASRec's FFN options."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gre_ray.recsys import FusionConfig, ItemFeatures, SplitConfig, Stage, evaluate, make_split, model_config
from gre_ray.recsys.batches import RetrievalBatches, TrainPositions
from gre_ray.recsys.fusion import MoEAdaptor
from gre_ray.recsys.metrics import ranking_metrics
from gre_ray.recsys.models import build_model
from gre_ray.recsys.models.base import NEG, POS, SEQ, RetrievalModel
from gre_ray.recsys.models.sasrec import gbce_beta, gbce_loss


def frame(sequences: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(u, item, t) for u, items in sequences.items() for t, item in enumerate(items)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    df["timestamp"] = df["timestamp"].astype("int64")
    df["domain"] = "toy"
    return df


# ---------------------------------------------------------------- gBCE

def test_gbce_beta_hand_computed():
    # k = 2 negatives of N = 11 items: alpha = 2 / 10 = 0.2; t = 0.5:
    # beta = 0.2 * (0.5 * (1 - 5) + 5) = 0.6
    assert gbce_beta(2, 11, 0.5) == pytest.approx(0.6)
    assert gbce_beta(2, 11, 0.0) == pytest.approx(1.0)  # t = 0: plain BCE
    assert gbce_beta(2, 11, 1.0) == pytest.approx(0.2)  # t = 1: beta = alpha
    assert gbce_beta(50, 11, 0.75) == pytest.approx(1.0)  # alpha capped at 1


def test_gbce_loss_hand_computed():
    # s(0) = 1/2, s(ln 3) = 3/4: -0.6 * log(1/2) - log(1/2) - log(1/4) = 1.6 ln 2 + 2 ln 2
    pos = torch.tensor([0.0])
    neg = torch.tensor([[0.0, math.log(3.0)]])
    expected = 0.6 * math.log(2) + math.log(2) + math.log(4)
    assert gbce_loss(pos, neg, 0.6).item() == pytest.approx(expected, rel=1e-6)
    big = gbce_loss(torch.tensor([-200.0]), torch.tensor([[200.0]]), 0.5)  # stays finite
    assert big.item() == pytest.approx(0.5 * 200 + 200, rel=1e-6)


def test_sasrec_gbce_loss_matches_the_formula():
    n_items, max_len = 11, 4
    cfg = model_config("sasrec", dim=8, n_heads=2, loss="gbce", n_negatives=2, gbce_t=0.5, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(cfg, ItemFeatures(n_items, FusionConfig()), 3, max_len).eval()
    batch = {
        SEQ: torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]]),
        POS: torch.tensor([[0, 2, 3, 6], [0, 0, 5, 7]]),
        NEG: torch.tensor([[[0, 0], [8, 9], [1, 10], [4, 4]], [[0, 0], [0, 0], [3, 2], [9, 1]]]),
    }
    with torch.no_grad():
        hidden = model.encode(batch[SEQ])
        emb = model.item_emb.all_items()
        expected = []
        for b, t in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]:
            p = hidden[b, t] @ emb[batch[POS][b, t]]
            n = emb[batch[NEG][b, t]] @ hidden[b, t]
            expected.append(-0.6 * math.log(torch.sigmoid(p)) - torch.log(1 - torch.sigmoid(n)).sum().item())
        assert model.loss(batch).item() == pytest.approx(float(np.mean(expected)), rel=1e-5)
        assert model.beta == pytest.approx(0.6)


def test_sasrec_ffn_width_activation_and_uniform_negatives():
    cfg = model_config("sasrec", dim=8, ffn_dim=32, activation="gelu", negatives="uniform")
    model = build_model(cfg, ItemFeatures(20, FusionConfig()), 3, 5)
    ffn = model.blocks[0].ffn
    assert ffn[0].weight.shape == (32, 8) and isinstance(ffn[2], torch.nn.GELU)
    assert not model.negatives_exclude_seen
    with pytest.raises(Exception, match="gbce_t"):
        model_config("sasrec", gbce_t=1.5)


# ---------------------------------------------------------------- every position

# u0: items a..g (dense 1..7): training items 1..5, valid 6, test 7; u1: h..k (8..11):
# training 8, 9.
TWO_USERS = frame({"u0": list("abcdefg"), "u1": list("hijk")})


def rows(batches: RetrievalBatches, **kwargs) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    out = set()
    for batch in batches.train(100, 0, np.random.default_rng(0), **kwargs):
        out |= {(tuple(s), tuple(p)) for s, p in zip(batch[SEQ].tolist(), batch[POS].tolist())}
    return out


def test_last_window_only_is_the_original_sampler():
    batches = RetrievalBatches(make_split(TWO_USERS, SplitConfig(kind="retrieval", max_len=2)))
    assert rows(batches) == {((3, 4), (4, 5)), ((0, 8), (0, 9))}
    assert batches.n_targets() == 3  # items 1, 2 of u0 are never a target


def test_all_positions_with_disjoint_windows_hand_computed():
    batches = RetrievalBatches(make_split(TWO_USERS, SplitConfig(kind="retrieval", max_len=2)))
    assert rows(batches, positions="all") == {
        ((3, 4), (4, 5)),  # window ending at item 5: targets 4, 5
        ((1, 2), (2, 3)),  # the window before: targets 2, 3
        ((0, 8), (0, 9)),
    }
    assert batches.n_targets(TrainPositions.ALL) == 5  # every training item but each user's first


def test_all_positions_stride_one_gives_every_target_its_own_prefix():
    batches = RetrievalBatches(make_split(TWO_USERS, SplitConfig(kind="retrieval", max_len=2)))
    assert rows(batches, positions="all", stride=1) == {
        ((3, 4), (0, 5)),
        ((2, 3), (0, 4)),
        ((1, 2), (0, 3)),
        ((0, 1), (0, 2)),
        ((0, 8), (0, 9)),
    }
    assert batches.n_targets(TrainPositions.ALL, 1) == 5
    with pytest.raises(ValueError, match="stride"):
        batches.n_targets(TrainPositions.ALL, 3)


def test_all_positions_trains_each_target_once(synthetic):
    split = make_split(synthetic.interactions, SplitConfig(kind="retrieval", max_len=8))
    batches = RetrievalBatches(split)
    starts, ends = split.retrieval_window(Stage.TRAIN)
    expected = int(np.maximum(ends - starts - 1, 0).sum())
    for stride in (1, 3, 8):
        n = sum(int((b[POS] > 0).sum()) for b in batches.train(64, 0, np.random.default_rng(1), positions="all", stride=stride))
        assert n == expected == batches.n_targets(TrainPositions.ALL, stride)
    assert batches.n_targets() < expected  # the last window loses older targets


def test_uniform_negatives_may_be_seen_items():
    split = make_split(frame({f"u{u}": list("abcdefgh") for u in range(20)}), SplitConfig(kind="retrieval", max_len=5))
    batches = RetrievalBatches(split)  # 6 training items of 8 per user
    rng = np.random.default_rng(0)
    seen = next(batches.train(20, 4, rng))
    unseen = seen[NEG][seen[POS] > 0]
    assert set(unseen.ravel()) <= {7, 8}  # only the items outside the training history
    uniform = next(batches.train(20, 4, np.random.default_rng(0), exclude_seen=False))
    assert len(set(uniform[NEG][uniform[POS] > 0].ravel())) > 2


# ---------------------------------------------------------------- unmasked ranking, MRR@K

class FixedScores(RetrievalModel):
    """Every user scores item i by a fixed number: item vectors are 1-d scores."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = torch.tensor([[0.0]] + [[s] for s in scores])

    @property
    def n_negatives(self) -> int:
        return 0

    def user_vectors(self, seq):
        return torch.ones(len(seq), 1)

    def item_vectors(self):
        return self.scores

    def loss(self, batch):
        return torch.zeros(())


def test_unmasked_ranking_hand_computed():
    # items a..e score 5, 4, 3, 2, 1. A: train a, d; valid e; test c. B: train b, e; valid a; test d.
    split = make_split(frame({"A": list("adec"), "B": list("bead")}), SplitConfig(kind="retrieval"))
    model = FixedScores([5, 4, 3, 2, 1])
    # test, masked: A's c is beaten by b only (a is history) -> 1; B's d by c only -> 1
    masked = evaluate(model, split, Stage.TEST, ks=(2, 5))
    assert masked["ndcg@2"] == pytest.approx(1 / math.log2(3))
    # unmasked: A's c is beaten by a, b -> 2; B's d by a, b, c -> 3
    unmasked = evaluate(model, split, Stage.TEST, ks=(2, 5), mask_history=False)
    assert unmasked["ndcg@5"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / 2)
    assert unmasked["recall@2"] == 0.0 and unmasked["mrr@2"] == 0.0
    assert unmasked["mrr@5"] == pytest.approx((1 / 3 + 1 / 4) / 2) == unmasked["mrr"]
    # validation, unmasked: A's e (score 1) is beaten by a, b, c, d -> 4; B's a by none -> 0
    valid = evaluate(model, split, Stage.VALID, ks=(5,), mask_history=False)
    assert valid["mrr@5"] == pytest.approx((1 / 5 + 1) / 2)


def test_mrr_at_k_hand_computed():
    m = ranking_metrics(np.array([0.0, 2.0, 9.0]), ks=(1, 3))
    assert m["mrr@1"] == pytest.approx(1 / 3)
    assert m["mrr@3"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 10) / 3)


# ---------------------------------------------------------------- UniSRec adaptor

def test_moe_adaptor_hand_computed():
    adaptor = MoEAdaptor(2, 1, n_experts=2)
    with torch.no_grad():
        adaptor.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # expert 0 reads x0, expert 1 reads x1
        adaptor.bias.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # whitening offsets
    x = torch.tensor([[1.0, 2.0]])
    # expert 0: (1 - 1) * 1 = 0; expert 1: (2 - 1) * 1 = 1; zero gate: equal weights -> 0.5
    assert adaptor(x).item() == pytest.approx(0.5)
    with torch.no_grad():
        adaptor.gate.copy_(torch.tensor([[0.0, 0.0], [0.0, math.log(3.0) / 2]]))  # logits 0, ln 3
    assert adaptor(x).item() == pytest.approx(0.75)  # softmax weights 1/4, 3/4


def test_unisrec_fusion_adds_the_adapted_text_to_the_id_embedding():
    text = torch.randn(6, 5)
    text[0] = 0
    from gre_ray.recsys.fusion import FusionMode, ItemEmbedding

    emb = ItemEmbedding(5, 4, FusionMode.UNISREC, text)
    ids = torch.tensor([[0, 1, 3]])
    expected = emb.id(ids) + emb.proj(text[ids])
    expected[0, 0] = 0
    torch.testing.assert_close(emb(ids), expected)
    assert set(dict(emb.named_parameters())) == {"id.weight", "proj.weight", "proj.bias", "proj.gate"}


# ---------------------------------------------------------------- RecBole CTR splits

def ctr_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({
        "user_id": [f"u{u}" for u in rng.integers(0, 15, n)],
        "item_id": [f"i{i}" for i in rng.integers(0, 30, n)],
        "timestamp": rng.permutation(n).astype("int64"),
        "rating": rng.integers(1, 6, n).astype(float),
    })
    df["domain"] = "toy"
    return df


def test_ranking_time_split_is_8_1_1_in_global_time_order():
    split = make_split(ctr_frame(), SplitConfig(kind="ranking_time"))
    stamps = split.sequences.timestamps
    parts = {stage: split.samples[stage] for stage in Stage}
    assert [len(parts[s]) for s in Stage] == [160, 20, 20]
    assert stamps[parts[Stage.TRAIN].hist_end].max() < stamps[parts[Stage.VALID].hist_end].min()
    assert stamps[parts[Stage.VALID].hist_end].max() < stamps[parts[Stage.TEST].hist_end].min()
    test = parts[Stage.TEST]
    np.testing.assert_array_equal(test.label, split.sequences.ratings[test.hist_end] >= 4)
    assert (test.item == split.sequences.items[test.hist_end]).all()


def test_ranking_random_split_is_seeded_and_covers_every_interaction():
    a = make_split(ctr_frame(), SplitConfig(kind="ranking_random", seed=1))
    b = make_split(ctr_frame(), SplitConfig(kind="ranking_random", seed=1))
    c = make_split(ctr_frame(), SplitConfig(kind="ranking_random", seed=2))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    ends = np.concatenate([a.samples[s].hist_end for s in Stage])
    np.testing.assert_array_equal(np.sort(ends), np.arange(200))  # each interaction in one stage
    assert [len(a.samples[s]) for s in Stage] == [160, 20, 20]
    stamps = a.sequences.timestamps
    assert stamps[a.samples[Stage.TRAIN].hist_end].max() > stamps[a.samples[Stage.TEST].hist_end].min()


@pytest.mark.parametrize("mode", ["add", "text_only", "unisrec"])
def test_mapping_the_whole_table_equals_mapping_each_row(mode):
    from gre_ray.recsys.fusion import ItemEmbedding

    torch.manual_seed(0)
    text = torch.randn(6, 5)
    text[0] = 0
    emb = ItemEmbedding(5, 4, mode, text)
    ids = torch.tensor([[0, 1, 3, 3], [5, 2, 0, 4]])  # 8 lookups > 6 rows: the table path
    assert ids.numel() > len(text)
    per_row = torch.cat([emb(ids[:, j : j + 1]) for j in range(ids.shape[1])], dim=1)  # 2 lookups each
    torch.testing.assert_close(emb(ids), per_row)


def test_untied_output_embedding_scores_items():
    tied = build_model(model_config("sasrec", dim=8), ItemFeatures(20, FusionConfig()), 3, 5)
    untied = build_model(model_config("sasrec", dim=8, tied_output=False), ItemFeatures(20, FusionConfig()), 3, 5)
    assert tied.out_emb is tied.item_emb and not any(k.startswith("untied") for k in tied.state_dict())
    assert untied.out_emb is untied.untied_emb is not untied.item_emb
    torch.testing.assert_close(untied.item_vectors(), untied.untied_emb.all_items())
