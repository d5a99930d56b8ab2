"""The results store: two writers appending at once lose nothing and duplicate nothing; trial
keys follow every setting of the spec and nothing else."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd

from gre_ray.bench.keys import settings_key, trial_key
from gre_ray.bench.store import ResultsStore, read_stores


def _rows(writer: int, i: int) -> pd.DataFrame:
    key = f"k{i:03d}" if i % 2 else f"w{writer}-{i:03d}"  # odd keys: both writers ran that trial
    return pd.DataFrame({"key": [key, key], "metric": ["ndcg@10", "recall@10"], "value": [writer, writer],
                         "trial": [f"t{i}"] * 2})


def _writer(root: str, writer: int, n: int) -> None:
    store = ResultsStore(root)
    for i in range(n):
        store.append(_rows(writer, i))


def test_two_writers_at_once_lose_and_duplicate_no_row(tmp_path):
    root, n = str(tmp_path / "store"), 40
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, w, n)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = ResultsStore(root)
    assert len(store.parts()) == 2 * n
    rows = store.read()
    expected = {f"k{i:03d}" for i in range(1, n, 2)} | {f"w{w}-{i:03d}" for w in (1, 2) for i in range(0, n, 2)}
    assert set(rows["key"]) == expected
    assert len(rows) == 2 * len(expected) and not rows.duplicated(["key", "metric"]).any()
    assert not any(p.name.startswith(".") for p in (store.root / "trials").children())


def test_merging_stores_counts_a_trial_held_by_both_once(tmp_path):
    a, b = ResultsStore(str(tmp_path / "a")), ResultsStore(str(tmp_path / "b"))
    a.append(_rows(1, 1))
    a.append(_rows(1, 2))
    b.append(_rows(2, 1))
    b.append(_rows(2, 4))
    merged = read_stores([a, b])
    assert sorted(merged["key"].unique()) == ["k001", "w1-002", "w2-004"]
    assert (merged[merged["key"] == "k001"]["value"] == 1).all()  # the first written wins


SPEC = {"name": "kitchen-sasrec-minilm-add-s0", "dataset": "kitchen", "scenario": "e-commerce", "model": "sasrec",
        "task": "retrieval", "embedding": "minilm", "fusion": "add", "seed": 0, "lr": 1e-3, "dim": 32,
        "split_path": "/a/split", "embedding_path": "/a/emb", "missing_text": "error", "text_reduce": "none",
        "text_reduce_dim": None, "model_params": {"dim": 32}, "train": {"lr": 1e-3, "device": "cpu", "seed": 0},
        "torch_threads": 1, "split_fingerprint": "s1", "embedding_fingerprint": "e1",
        "protocol": {"ranking": "full", "split": "retrieval", "history_masked": True}}


def test_a_trial_key_follows_every_setting_and_nothing_else():
    key = trial_key(SPEC)
    same = {**SPEC, "name": "renamed", "embedding": "other_name", "split_path": "/b", "embedding_path": "/c",
            "torch_threads": 4, "scenario": "x", "train": {**SPEC["train"], "device": "cuda"}}
    assert trial_key(same) == key
    for change in ({"embedding_fingerprint": "e2"}, {"split_fingerprint": "s2"}, {"seed": 1}, {"fusion": "concat"},
                   {"model_params": {"dim": 64}}, {"train": {**SPEC["train"], "loss": "gbce"}},
                   {"new_setting_added_later": 1}):
        assert trial_key({**SPEC, **change}) != key, change
    assert settings_key({**SPEC, "seed": 3, "dataset": "x", "embedding_fingerprint": "e9"}) == settings_key(SPEC)
    assert settings_key({**SPEC, "lr": 0.1}) != settings_key(SPEC)


def record(name: str, embedding: str, score: float) -> dict:
    """A finished trial's record as the grid stores it."""
    spec = {**SPEC, "name": name, "embedding": embedding, "embedding_fingerprint": embedding,
            "fusion": "none" if embedding == "id" else "add"}
    metrics = {"final": 1, "best_epoch": 2, "epochs": 2, "test/ndcg@10": score, "test/recall@10": score,
               "split_fingerprint": "s1"}
    return {"spec": spec, "metrics": metrics, "history": [{"epoch": 1, "train_loss": 1.0, "valid_score": 0.1}],
            "error": "", "failures": 0}


def test_report_merges_several_stores(tmp_path, capsys):
    from gre_ray.bench.reuse import stored_rows
    from gre_ray.cli import main

    for folder, records in (("a", [record("t-id", "id", 0.2), record("t-a", "model_a", 0.3)]),
                            ("b", [record("t-id", "id", 0.2), record("t-b", "model_b", 0.4)])):
        store = ResultsStore(str(tmp_path / folder / "results_store"))
        for r in records:
            store.append(stored_rows(r))
    assert main(["report", "--store", str(tmp_path / "a"), "--store", str(tmp_path / "b"),
                 "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "model_a-add" in text and "model_b-add" in text and "3 trials" in text
    assert "Protocol: retrieval (sasrec): full ranking over every item, retrieval split, history masked." in text
    assert main(["report", "--store", str(tmp_path / "nothing")]) == 2
    assert "no GRE-B results store" in capsys.readouterr().err


def test_latest_per_name_keeps_every_dataset_and_the_newest_content_within_one():
    """One model has a fingerprint per dataset (it covers the item texts): all are kept; a
    model retrained under its old name replaces only its own older rows on that dataset."""
    from gre_ray.bench.reuse import latest_per_name

    rows = pd.DataFrame({
        "dataset": ["a", "b", "a", "a", "b"],
        "embedding": ["gre", "gre", "gre", "minilm", "minilm"],
        "embedding_fingerprint": ["ga-old", "gb", "ga-new", "ma", "mb"],
        "written_at": ["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-01", "2026-01-01"],
        "value": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    kept = latest_per_name(rows)
    assert sorted(kept["value"]) == [2.0, 3.0, 4.0, 5.0]


def test_a_folder_gre_ray_bench_wrote_exports_every_trial_of_its_store(tmp_path, capsys):
    """``gre-ray bench`` leaves a results store, not a benchmark stage folder: export reads the store."""
    import json

    from gre_ray.bench.reuse import stored_rows
    from gre_ray.cli import main

    store = ResultsStore(str(tmp_path / "bench-run" / "results_store"))
    for r in (record("t-id", "id", 0.2), record("t-a", "model_a", 0.3)):
        store.append(stored_rows(r))
    assert main(["export", str(tmp_path / "bench-run"), "--out", str(tmp_path / "b.json")]) == 0
    bundle = json.loads((tmp_path / "b.json").read_text())
    values = {(t["trial"], t["metric"]): t["value"] for t in bundle["trials"]}
    assert values == {("t-id", "ndcg@10"): 0.2, ("t-id", "recall@10"): 0.2,
                      ("t-a", "ndcg@10"): 0.3, ("t-a", "recall@10"): 0.3}
    assert bundle["source"].endswith("results_store")
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "c.json")]) == 2
    assert "no GRE-B results" in capsys.readouterr().err
