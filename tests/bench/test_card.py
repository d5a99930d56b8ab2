"""GRE-B results in the model card: ``model-index`` entries read back with
``huggingface_hub.ModelCard`` equal the means over seeds of the results table."""

from __future__ import annotations

import pytest

from gre_ray.bench.card import add_results
from gre_ray.data.storage import Location
from gre_ray.train.export import write_model_card
from tests.bench.synthetic import results_frame


def test_the_card_gains_the_benchmark_results_in_model_index(tmp_path):
    from huggingface_hub import ModelCard

    write_model_card(str(tmp_path), {"title": "GRE text embedding model", "base_model": "minilm", "objective": "o",
                                     "trained_on": ["outdoor"], "notes": ["kept"]})
    results = results_frame()
    assert add_results(Location.of(tmp_path), results, "gre", ["ndcg@10", "auc"])
    assert add_results(Location.of(tmp_path), results, "gre", ["ndcg@10", "auc"])  # replaced, not appended

    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.model_name == "gre" and card.data.datasets == ["outdoor"] and "- kept" in card.text
    found = {(r.task_name, r.dataset_config, r.metric_type): r.metric_value for r in card.data.eval_results}
    gre = results[results["embedding"] == "gre"]
    assert len(found) == 4 * 2 + 2  # (dataset x model) headline metrics, then the two GRE-B means
    sasrec_a = gre[(gre["dataset"] == "a") & (gre["model"] == "sasrec") & (gre["metric"] == "ndcg@10")]
    assert found[("GRE-B sasrec (add fusion)", "a", "ndcg@10")] == pytest.approx(sasrec_a["value"].mean(), abs=1e-6)
    deepfm = gre[(gre["model"] == "deepfm") & (gre["metric"] == "auc")]
    assert found[("GRE-B deepfm (add fusion)", "all", "auc")] == pytest.approx(
        deepfm.groupby("dataset")["value"].mean().mean(), abs=1e-6)
    assert {r.dataset_name for r in card.data.eval_results} >= {"GRE-B a", "GRE-B (mean over 4 datasets)"}


def test_no_card_or_no_trial_of_the_model_writes_nothing(tmp_path):
    assert not add_results(Location.of(tmp_path), results_frame(), "gre", ["ndcg@10"])
    write_model_card(str(tmp_path), {"title": "t", "base_model": "b", "objective": "o"})
    assert not add_results(Location.of(tmp_path), results_frame(), "other", ["ndcg@10"])
    assert "model-index" not in (tmp_path / "README.md").read_text()
