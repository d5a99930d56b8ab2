"""The demo data generator: deterministic, in the contract, with the planted properties measured."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.data.schema import INTERACTIONS, ITEMS, validate_table
from gre_ray.data.storage import Location, read_json, read_table
from gre_ray.demo.generator import DemoDataConfig, DemoSize, generate_domain, ground_truth_table, vocabulary
from gre_ray.demo.properties import measure
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config

TINY = DemoDataConfig(size=DemoSize.TINY)


def test_same_seed_same_data_other_seed_other_data():
    a, b = generate_domain(TINY, "outdoor"), generate_domain(TINY, "outdoor")
    assert a.items.equals(b.items) and a.interactions.equals(b.interactions)
    c = generate_domain(DemoDataConfig(size=DemoSize.TINY, seed=1), "outdoor")
    assert not a.interactions.equals(c.interactions)


def test_domain_does_not_depend_on_which_others_are_generated():
    alone = generate_domain(DemoDataConfig(size=DemoSize.TINY, domains=["cafes"]), "cafes")
    assert alone.interactions.equals(generate_domain(TINY, "cafes").interactions)


def test_six_scenarios_each_with_train_and_benchmark_domains():
    vocab = vocabulary()
    scenarios = {spec["scenario"] for spec in vocab.values()}
    assert scenarios == {"e-commerce", "fashion", "books", "games", "video", "catering"}
    for scenario in scenarios:
        roles = sorted(spec["role"] for spec in vocab.values() if spec["scenario"] == scenario)
        assert roles == ["benchmark", "train"], scenario


def test_tables_follow_the_contract_and_sequences_are_sane():
    data = generate_domain(TINY, "fiction")
    validate_table(data.items, ITEMS, "items")
    validate_table(data.interactions, INTERACTIONS, "interactions")
    df = data.interactions.to_pandas()
    assert not df.duplicated(["user_id", "item_id"]).any(), "a user consumes an item once"
    assert df.groupby("user_id").size().min() >= TINY.min_history
    assert (df.groupby("user_id")["timestamp"].diff().dropna() >= 0).all(), "rows are time-ordered per user"
    assert df["rating"].between(1, 5).all()
    words = " ".join(data.items.column("text").to_pylist()).split()
    assert len(set(words)) > 100, "texts are made of a real vocabulary"


def test_partners_are_in_the_complementary_category_and_symmetric_in_category():
    data = generate_domain(TINY, "outdoor")
    spec = vocabulary()["outdoor"]
    pairs = {frozenset(p) for p in spec["complements"]}
    for item, partner in enumerate(data.partner):
        cats = frozenset({data.categories[data.item_category[item]], data.categories[data.item_category[partner]]})
        assert cats in pairs


@pytest.mark.parametrize("domain", ["outdoor", "fiction", "movies", "cafes"])
def test_text_partly_predicts_cooccurrence_and_part_is_collaborative_only(domain):
    data = generate_domain(DemoDataConfig(size=DemoSize.DEMO, domains=[domain]), domain)
    props = measure(data.items, data.interactions, ground_truth_table(data))
    # (a) text similarity predicts co-consumption better than chance, but far from perfectly.
    assert 0.55 < props.text_sim_auc < 0.9
    assert props.mean_sim_cooccurring > props.mean_sim_random
    # (b) a good share of co-consumption is between texts that share (almost) no words,
    #     most of it the planted complements.
    assert props.dissimilar_share > 0.3
    assert props.complement_share > 0.15
    assert props.complement_dissimilar_share > 0.6


def test_sizes_scale_with_the_preset():
    tiny = generate_domain(TINY, "kitchen").interactions.num_rows
    demo = generate_domain(DemoDataConfig(size=DemoSize.DEMO, domains=["kitchen"]), "kitchen").interactions.num_rows
    assert demo > 10 * tiny
    users, items = DemoDataConfig(size=DemoSize.LARGE).counts()
    assert users * 12 * DemoDataConfig().mean_history > 5_000_000


def test_bad_generator_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown demo domain"):
        DemoDataConfig(domains=["mars"])
    with pytest.raises(ValueError, match="min_history must be at least 3"):
        DemoDataConfig(min_history=1, mean_history=2)


def test_demo_data_stage_through_the_runner(tmp_path, ray_session):
    config = load_config(None, [f"run.root={tmp_path}", "demo_data.size=tiny", "run.stages=[demo_data]"])
    outcomes = run_config(config)
    assert [o.status for o in outcomes] == ["ran"]
    stage_dir = Location.of(tmp_path / "demo_data")
    items = read_table(stage_dir / "items", ITEMS)
    interactions = read_table(stage_dir / "interactions", INTERACTIONS)
    domains = read_table(stage_dir / "domains").to_pylist()
    assert len(domains) == 12 and {d["role"] for d in domains} == {"train", "benchmark"}
    manifest = read_json(stage_dir / "manifest.json")
    assert manifest["stats"]["totals"] == {"items": items.num_rows, "interactions": interactions.num_rows}
    assert manifest["rows"]["out"] == items.num_rows + interactions.num_rows
    expected = generate_domain(config.demo_data, "boardgames").interactions
    got = interactions.filter(np.asarray(interactions.column("domain").to_pylist()) == "boardgames")
    assert got.equals(expected), "the Ray stage writes exactly what the plain generator makes"
    assert [o.status for o in run_config(config)] == ["skipped"]


def test_each_benchmark_domain_shares_exactly_one_complement_pair_with_its_training_sibling():
    vocab = vocabulary()
    for scenario in {spec["scenario"] for spec in vocab.values()}:
        train, bench = (
            next(spec for spec in vocab.values() if spec["scenario"] == scenario and spec["role"] == role)
            for role in ("train", "benchmark")
        )
        shared = {frozenset(p) for p in train["complements"]} & {frozenset(p) for p in bench["complements"]}
        assert len(shared) == 1, scenario
        for category in next(iter(shared)):
            assert bench["categories"][category] == train["categories"][category]
        assert set(bench["brands"]).isdisjoint(train["brands"])


def test_editing_the_vocabulary_changes_the_demo_data_fingerprint(tmp_path, monkeypatch):
    from gre_ray.stages import demo_data

    before = demo_data.DemoDataStage().external_inputs(None)
    (tmp_path / "vocabulary.yaml").write_text("outdoor: {}\n")
    monkeypatch.setattr(demo_data.resources, "files", lambda package: tmp_path)
    assert demo_data.DemoDataStage().external_inputs(None) != before
