"""The whole in-process path: hand data, bad input, and recovery of the demo's planted partners."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gre_ray.data.schema import PAIRS, validate_table
from gre_ray.demo.generator import DemoDataConfig, generate_domain, ground_truth_table
from gre_ray.pairs.config import CoocScore, PairsConfig, ThresholdConfig, ThresholdMode
from gre_ray.pairs.domain import domain_items
from gre_ray.pairs.evaluate import planted_precision
from gre_ray.pairs.mine import mine_domain
from tests.pairs.helpers import HAND_ITEMS, HAND_ROWS, embeddings, interactions, items, tfidf_embeddings

KEEP_ALL = dict(
    min_support=1,
    top_k=None,
    cooc_threshold=ThresholdConfig(mode=ThresholdMode.FIXED, value=-1e9),
    text_threshold=ThresholdConfig(mode=ThresholdMode.FIXED, value=-1.0),
)


def test_hand_data_end_to_end_with_bad_rows():
    rows = HAND_ROWS + [("u1", "ghost", 4), ("u5", "E", 1), ("u5", "A", 1)]
    vocab = HAND_ITEMS + ["E"]
    vectors = np.eye(5, dtype=np.float32)
    vectors[4] = 0  # E has a zero vector: counted, never in a pair
    emb = embeddings(vocab, vectors * 3)  # not normalised on purpose
    result = mine_domain(interactions(rows), domain_items("d", items(vocab), emb), PairsConfig(num_negatives=1, **KEEP_ALL))
    table = validate_table(result.table, PAIRS)
    got = {(a, b): s for a, b, s in zip(*(table.column(c).to_pylist() for c in ("item_a", "item_b", "cooc_score")))}
    assert set(got) == {("A", "B"), ("A", "C"), ("B", "C"), ("B", "D"), ("C", "D")}
    assert got[("A", "C")] == pytest.approx(1 / np.sqrt(3 * 2))  # |U_A| = 3 with u5
    assert table.column("text_sim").to_pylist() == [0.0] * 5  # orthogonal unit vectors
    seq = result.stats["sequences"]
    assert (seq["unknown_item_rows"], seq["single_item_users"], seq["users"]) == (1, 1, 4)
    assert result.stats["dropped_no_vector"] == 1  # (A, E)
    # A co-occurs with B, C, E: its only possible negative is D.
    negs = dict(zip(table.column("item_a").to_pylist(), table.column("neg_item_ids").to_pylist()))
    assert negs["A"] == ["D"]


def test_no_pair_passing_is_an_empty_table_not_a_crash():
    config = PairsConfig(min_support=50)
    result = mine_domain(interactions(HAND_ROWS), domain_items("d", items(HAND_ITEMS), embeddings(HAND_ITEMS, np.eye(4))), config)
    assert result.table.num_rows == 0
    assert result.stats["kept"] == 0 and result.stats["cooc_score"]["kept"] is None


def test_a_domain_whose_items_are_all_unknown_mines_nothing():
    no_items = domain_items("d", items(["A"]).slice(0, 0), embeddings(["A"], np.eye(2)[:1]))
    result = mine_domain(interactions(HAND_ROWS), no_items, PairsConfig())
    assert result.table.num_rows == 0
    assert result.stats["sequences"]["unknown_item_rows"] == len(HAND_ROWS)


@pytest.fixture(scope="module")
def demo_domains():
    out = []
    for name in ("outdoor", "womenswear"):
        data = generate_domain(DemoDataConfig(size="demo"), name)
        out.append((data, domain_items(name, data.items, tfidf_embeddings(data.items)), ground_truth_table(data)))
    return out


@pytest.mark.parametrize("score", list(CoocScore))
def test_demo_pairs_recover_planted_partners(demo_domains, score):
    for data, dom_items, truth in demo_domains:
        result = mine_domain(data.interactions, dom_items, PairsConfig(score=score))
        figures = planted_precision(result, truth)
        # Base rate ~0.004: the chance that a random pair of the domain's items is planted.
        assert figures["lift"] >= 15, figures
        assert figures["recall"] >= 0.3, figures
        assert figures["precision"] > 2 * figures["candidate_precision"], figures
        if score == CoocScore.COSINE:  # the default
            assert figures["precision"] >= 0.2, figures


@pytest.mark.parametrize("settings", [{}, {"window": 1, "max_items_per_user": 5}])
def test_demo_negatives_never_cooccur_with_the_anchor(demo_domains, settings):
    # With a window and a cap, negatives still avoid pairs far apart or cut by the cap.
    data, dom_items, _ = demo_domains[0]
    result = mine_domain(data.interactions, dom_items, PairsConfig(**settings))
    assert result.stats["sequences"]["capped_users"] > 0 or not settings
    df = data.interactions.select(["user_id", "item_id"]).to_pandas()
    seen = df.groupby("item_id")["user_id"].agg(set).to_dict()
    negs = result.table.column("neg_item_ids").to_pylist()
    anchors = result.table.column("item_a").to_pylist()
    assert sum(len(n) for n in negs) == 4 * len(anchors)
    for anchor, row in zip(anchors, negs):
        assert anchor not in row
        assert all(not (seen[anchor] & seen.get(n, set())) for n in row)
    texts = result.table.column("neg_texts").to_pylist()
    text_of = dict(zip(dom_items.item_ids, dom_items.texts))
    assert texts[0] == [text_of[n] for n in negs[0]]


def test_target_count_reaches_the_target(demo_domains):
    data, dom_items, _ = demo_domains[0]
    config = PairsConfig(cooc_threshold=ThresholdConfig(mode=ThresholdMode.TARGET_COUNT, target_pairs=100))
    result = mine_domain(data.interactions, dom_items, config)
    assert result.table.num_rows == 100
    assert result.stats["thresholds"]["cooc_rule"] == "target 100"


def test_row_order_does_not_change_the_result_beyond_ties(demo_domains):
    data, dom_items, _ = demo_domains[0]
    # A stable sort moves rows around but keeps the order of rows tied on (user, timestamp).
    order = pc.sort_indices(data.interactions, sort_keys=[("user_id", "descending"), ("timestamp", "descending")])
    moved = data.interactions.take(order)
    config = PairsConfig(max_items_per_user=8, window=2)
    a = mine_domain(data.interactions, dom_items, config).table
    b = mine_domain(moved, dom_items, config).table
    assert a.num_rows > 0 and a.equals(b)
