"""The dataset registry and ``gre-ray datasets``."""

from __future__ import annotations

from collections import Counter

import pytest

from gre_ray.cli import main
from gre_ray.errors import ConfigError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.sources import resolve
from gre_ray.registry import load_registry


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
    assert registry["Arts"].filters == {"min_user_interactions": 5, "min_item_interactions": 5}


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
    (tmp_path / "review-Maine.json.gz").write_bytes(b"")
    assert main(["datasets", "--data-root", str(tmp_path), "--role", "benchmark"]) == 0
    out = capsys.readouterr().out
    assert "Maine              catering    benchmark  google_local  partial, missing meta-Maine.json.gz" in out
    assert "Arts               e-commerce  benchmark  amazon2023    missing Arts_Crafts_and_Sewing.jsonl.gz" in out
    assert "0 dataset(s) ready" in out
    assert main(["datasets", "--registry", str(tmp_path / "none.yaml")]) == 2
