"""Result bundles: ``gre-ray export`` of a run reads back equal (round trip); ``gre-ray report
--bundle A --bundle B`` merges two into one HTML report; bundles measured on other data, under
another protocol or of another schema version are refused in one line."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from gre_ray.bench.bundle import SCHEMA_VERSION, build_bundle, bundle_results, read_bundle, write_bundle
from gre_ray.bench.leaderboard import leaderboard
from gre_ray.bench.report import write_meta, write_zero_shot
from gre_ray.bench.results import write_results
from gre_ray.bench.stats import paired_tests
from gre_ray.cli import main
from gre_ray.data.storage import Location, write_json
from tests.bench.synthetic import history_frame, results_frame

METRICS = ["ndcg@10", "auc", "logloss"]


def _run(root, results: pd.DataFrame) -> str:
    """A run folder holding ``results`` the way the benchmark stage writes them."""
    folder = Location.of(root) / "benchmark"
    write_results(results, history_frame(results), folder / "results")
    write_meta(folder / "results", METRICS, "base")
    zero = pd.DataFrame({"dataset": ["a", "a"], "embedding": ["base", "gre"], "metric": ["ndcg@10"] * 2,
                         "value": [0.05, 0.06], "split_fingerprint": ["f" * 16] * 2})
    write_zero_shot(zero, folder / "results")
    splits = {f"{d}/{t}": {"fingerprint": f"{d}-{t}-fp", "kind": t, "users": 10, "items": 20}
              for d in "abcd" for t in ("retrieval", "ranking")}
    write_json(folder / "splits" / "splits.json", splits)
    return str(root)


def _results(embeddings=("base", "gre"), masked: bool = True, fingerprint: str = "") -> pd.DataFrame:
    rows = results_frame()
    rows = rows[rows["embedding"].isin(["id", *embeddings])].copy()
    rows["split_fingerprint"] = [fingerprint or f"{d}-{t}-fp" for d, t in zip(rows["dataset"], rows["task"])]
    rows["protocol"] = np.where(rows["task"] == "retrieval", "full", "sampled")
    rows["split_kind"] = np.where(rows["task"] == "retrieval", "retrieval", "ranking_implicit")
    rows["history_masked"] = (rows["task"] == "retrieval") & masked
    rows["key"] = rows["trial"] + "-key"
    rows["embedding_fingerprint"] = [f"{e}-{d}" if e != "id" else "" for e, d in zip(rows["embedding"],
                                                                                   rows["dataset"])]
    return rows.reset_index(drop=True)


def test_an_exported_bundle_reads_back_to_the_same_trials_leaderboard_and_tests(tmp_path):
    results = _results()
    bundle = build_bundle(_run(tmp_path / "run", results))
    loc = write_bundle(bundle, str(tmp_path / "a.json"))
    back = read_bundle(loc.uri)
    assert back["schema_version"] == SCHEMA_VERSION and back["code"]["trial_code_version"] >= 1
    assert [d["name"] for d in back["datasets"]] == ["a", "b", "c", "d"]
    assert back["datasets"][0]["fingerprints"] == {"ranking": "a-ranking-fp", "retrieval": "a-retrieval-fp"}
    assert back["datasets"][0]["statistics"]["retrieval"] == {"kind": "retrieval", "users": 10, "items": 20}
    assert back["protocol"]["retrieval"] == [{"ranking": "full", "split_kind": "retrieval", "history_masked": True}]
    assert set(back["models"]) == {"base", "gre"} and back["models"]["gre"]["fingerprints"]["a"] == "gre-a"

    trials = bundle_results(back)
    order = ["trial", "metric"]
    left, right = results.sort_values(order, ignore_index=True), trials.sort_values(order, ignore_index=True)
    assert len(trials) == len(results) and (left["seed"].to_numpy() == right["seed"].to_numpy()).all()
    np.testing.assert_allclose(right["value"], left["value"])
    board = pd.DataFrame(back["leaderboard"])
    again = leaderboard(trials, METRICS, "base")
    np.testing.assert_allclose(board["mean"], again["mean"])
    gre = board[(board["scope"] == "overall") & (board["embedding"] == "gre") & (board["metric"] == "ndcg@10")]
    expected = results[(results["embedding"] == "gre") & (results["metric"] == "ndcg@10")]["value"].mean()
    assert gre["mean"].iloc[0] == pytest.approx(expected)  # every dataset has all three seeds
    tests = pd.DataFrame(back["significance"])
    assert len(tests) == len(paired_tests(trials, METRICS, "base"))
    assert len(back["zero_shot"]) == 2 and json.loads(loc.read_text()) == back


def test_two_bundles_merge_into_one_html_report(tmp_path, capsys):
    a = _run(tmp_path / "run_a", _results(("base",)))
    b = _run(tmp_path / "run_b", _results(("base", "gre")))
    assert main(["export", a, "--out", str(tmp_path / "A.json")]) == 0
    assert main(["export", b, "--out", str(tmp_path / "B.json")]) == 0
    assert main(["report", "--bundle", str(tmp_path / "A.json"), "--bundle", str(tmp_path / "B.json"),
                 "--out", str(tmp_path / "merged")]) == 0
    html = (tmp_path / "merged" / "report.html").read_text()
    assert "Merged from" in html and "A.json (48 trials)" in html and "B.json (72 trials)" in html
    assert "gre-add" in html and "base-add" in html
    md = (tmp_path / "merged" / "report.md").read_text()
    assert "72 trials (72 ok, 0 failed)" in md  # A's trials are all in B (same keys): counted once


@pytest.mark.parametrize("change, message", [
    (dict(fingerprint="other"), r"not averaging dataset 'a' \(retrieval\): split fingerprint a-retrieval-fp in \S+A.json "
                                r"but other in \S+B.json"),
    (dict(masked=False), r"not averaging dataset 'a' \(retrieval\): protocol full/retrieval/True in \S+A.json but "
                         r"full/retrieval/False in \S+B.json"),
])
def test_bundles_measured_differently_are_refused_in_one_line(tmp_path, capsys, change, message):
    write_bundle(build_bundle(_run(tmp_path / "a", _results())), str(tmp_path / "A.json"))
    write_bundle(build_bundle(_run(tmp_path / "b", _results(**change))), str(tmp_path / "B.json"))
    assert main(["report", "--bundle", str(tmp_path / "A.json"), "--bundle", str(tmp_path / "B.json"),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gre-ray: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "r").exists()


def test_a_bundle_of_another_schema_version_names_both_versions(tmp_path, capsys):
    bundle = build_bundle(_run(tmp_path / "a", _results()))
    write_bundle({**bundle, "schema_version": SCHEMA_VERSION + 1}, str(tmp_path / "new.json"))
    assert main(["report", "--bundle", str(tmp_path / "new.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"new.json: bundle schema version {SCHEMA_VERSION + 1}, but this gre-ray reads version "
                        f"{SCHEMA_VERSION}") and len(err.splitlines()) == 1
