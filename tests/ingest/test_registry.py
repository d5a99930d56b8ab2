"""The dataset registry, GRE-B Table 1's counts and ``gre-ray datasets``."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.ingest.conftest import write_ninerec
from gre_ray.cli import main
from gre_ray.errors import ConfigError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.local import ingest_locally
from gre_ray.ingest.registry import load_registry
from gre_ray.ingest.sources import resolve


def test_registry_holds_gre_b_and_training_domains():
    registry = load_registry()
    bench = {n: e for n, e in registry.items() if e.role.value == "benchmark"}
    assert len(bench) == 26
    assert Counter(e.scenario.value for e in bench.values()) == {
        "e-commerce": 10, "video": 9, "book": 2, "game": 2, "catering": 2, "fashion": 1,
    }  # fmt: skip
    assert set(bench) == {
        "Arts", "Automotive", "Baby", "Cell", "Industrial", "Musical", "Office", "Patio", "Sports", "Tools", "Beauty",
        "Goodreads", "Books", "Toys", "Video", "Cartoon", "Dance", "Food", "Movie", "Music", "DY", "KU", "QB", "TN",
        "Yelp", "Maine",
    }  # fmt: skip
    train = [e for e in registry.values() if e.role.value == "train"]
    assert train and not set(e.name for e in train) & set(bench)
    assert all(e.homepage.startswith("https://") and e.files for e in registry.values())
    assert registry["Arts"].filters == {"min_user_interactions": 0, "min_item_interactions": 0}  # published 5-core
    assert registry["Arts"].interactions == ["Arts_Crafts_and_Sewing.csv.gz"]
    assert registry["Beauty"].interactions == ["Beauty_and_Personal_Care.csv.gz"]  # not the small All_Beauty


# GRE-B Table 1 (users / items / interactions), as issue #17 quotes it.
TABLE1 = """Arts 197,287/89,959/1,786,437; Automotive 632,139/267,276/6,072,233; Baby 150,778/36,014/1,241,083;
Cell 381,000/111,481/2,752,785; Industrial 50,986/25,849/412,947; Musical 57,440/24,588/511,836;
Office 223,309/77,552/1,800,878; Patio 416,650/133,448/3,441,178; Sports 409,773/156,236/3,472,020;
Tools 842,051/274,733/7,891,024; Beauty 729,577/207,650/6,624,441; Goodreads 204,130/1,682,439/10,994,995;
Books 776,371/495,064/9,488,297; Toys 432,265/162,036/3,861,886; Video 94,763/25,613/814,586; Cartoon 30,301/4,725/215,443;
Dance 10,716/2,308/83,392; Food 6,550/1,580/39,740; Movie 16,526/3,510/115,576; Music 50,665/6,039/360,177;
DY 20,399/8,300/139,834; KU 2,035/5,371/18,519; QB 17,723/6,122/133,664; TN 20,212/3,335/122,576;
Yelp 218,675/148,557/3,363,148; Maine 38,787/3,712/459,014"""


def test_every_benchmark_entry_carries_table1_counts():
    expected = {}
    for part in TABLE1.replace("\n", " ").split(";"):
        name, counts = part.split()
        expected[name] = tuple(int(c.replace(",", "")) for c in counts.split("/"))
    registry = load_registry()
    ours = {n: (e.table1.users, e.table1.items, e.table1.interactions) for n, e in registry.items() if e.table1}
    assert ours == expected
    assert all(e.table1 is None for e in registry.values() if e.role.value == "train")


def test_training_domains_share_no_file_with_gre_b_and_every_file_has_a_source():
    registry = load_registry()
    bench = {f for e in registry.values() if e.role.value == "benchmark" for f in e.files}
    train = {f for e in registry.values() if e.role.value == "train" for f in e.files}
    assert not bench & train
    for entry in registry.values():
        downloaded = {d.file for d in entry.downloads}
        archives = [d for d in entry.downloads if d.unpack]
        assert entry.manual or archives or set(entry.files) <= downloaded, entry.name
        assert not (entry.manual and entry.downloads), entry.name
    assert registry["Yelp"].manual and "yelp.com/dataset" in registry["Yelp"].manual
    assert registry["QB"].interactions == ["QB_behaviour.tsv"] and registry["TN"].interactions == ["TN_behaviour.tsv"]
    assert registry["Cartoon"].interactions == ["Bili_Cartoon_pair.csv"]


def test_registry_names_resolve_to_files_under_the_data_root(tmp_path):
    folder = tmp_path / "Yelp"
    folder.mkdir()
    (folder / "yelp_academic_dataset_review.json").write_text("")
    (tmp_path / "yelp_academic_dataset_business.json.gz").write_bytes(b"")  # .gz of the expected name also matches
    (dataset,) = resolve(IngestConfig(data_root=str(tmp_path), datasets=["Yelp"]))
    assert [f.display for f in dataset.files] == ["Yelp/yelp_academic_dataset_review.json", "yelp_academic_dataset_business.json.gz"]
    assert dataset.filters.min_user_interactions == 5
    with pytest.raises(ConfigError, match="unknown dataset 'Nope'"):
        resolve(IngestConfig(data_root=str(tmp_path), datasets=["Nope"]))


def test_a_broken_registry_entry_is_a_config_error(tmp_path):
    path = tmp_path / "reg.yaml"
    path.write_text("datasets:\n  X:\n    scenario: e-commerce\n    role: benchmark\n    adapter: amazon2099\n    homepage: h\n    items: [a]\n")
    with pytest.raises(ConfigError, match="datasets.X.adapter: 'amazon2099' is not one of"):
        load_registry(path)


def test_datasets_command_reports_presence(tmp_path, capsys):
    (tmp_path / "review-Maine_10.json.gz").write_bytes(b"")
    assert main(["datasets", "--data-root", str(tmp_path), "--role", "benchmark"]) == 0
    out = capsys.readouterr().out
    assert "Maine              catering    benchmark  google_local  partial, missing meta-Maine.json.gz" in out
    assert "Arts               e-commerce  benchmark  amazon2023    missing Arts_Crafts_and_Sewing.csv.gz" in out
    assert "0 dataset(s) ready" in out
    assert main(["datasets", "--registry", str(tmp_path / "none.yaml")]) == 2


def test_counts_far_from_table1_warn_with_both_figures_and_a_cause(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_ninerec(raw)  # 2 users, 2 items, 4 interactions
    registry = tmp_path / "reg.yaml"
    registry.write_text(
        "datasets:\n  Food:\n    scenario: video\n    role: benchmark\n    adapter: ninerec\n    homepage: https://x\n"
        "    interactions: [Bili_Food_pair.csv]\n    items: [Bili_Food_item.csv]\n"
        "    filters: {min_user_interactions: 0, min_item_interactions: 0}\n"
        "    table1: {users: 2, items: 2, interactions: 5}\n"
    )
    config = IngestConfig(data_root=str(raw), datasets=["Food"], registry=str(registry), token_tokenizer="")
    stats = ingest_locally(config, str(tmp_path / "out"))["Food"].stats
    assert stats["published"]["users"] == {"ours": 2, "table1": 2, "rel_diff": 0.0}
    assert stats["published"]["interactions"] == {"ours": 4, "table1": 5, "rel_diff": -0.2}
    (warning,) = stats["published_warnings"]
    assert warning == (
        "ingest: Food: counts differ from GRE-B Table 1 beyond 5%: interactions 4 vs Table 1 5 (-20.0%); "
        "likely cause: a smaller release or subset, or a stronger filter than GRE-B's (check the registry's files and filters)"
    )
    relaxed = IngestConfig(data_root=str(raw), datasets=["Food"], registry=str(registry), token_tokenizer="", table1_tolerance=0.25)
    stats = ingest_locally(relaxed, str(tmp_path / "out2"))["Food"].stats
    assert stats["published"]["within"] and stats["published_warnings"] == []
