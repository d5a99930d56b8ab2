"""The ``coreset`` stage through the runner, on planted tiny data (see coreset_planted.py)."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.coreset.coreset_planted import planted_items
from gre_ray.coreset.budget import allocate
from gre_ray.coreset.config import DedupScope
from gre_ray.coreset.dedup import normalize_rows
from gre_ray.coreset.select import CORPUS_SCHEMA, select_domain
from gre_ray.data.seeds import domain_seed
from gre_ray.errors import DataError
from gre_ray.runner.runner import run_pipeline

REMOVED_BY = {
    "missing_embedding": {"books": 1},
    "invalid_embedding": {"books": 1},
    "token_length": {"books": 1},
    "too_few_words": {"books": 1},
    "mostly_symbols": {"books": 1, "symbols": 3},
    "exact_duplicate": {"books": 1},
    "near_duplicate": {"books": 1},
}
PLANTED = {"b_missing", "b_nan", "b_short", "b_words", "b_digits", "b_copy", "b_near"}


def test_end_to_end_filters_budget_and_two_stage_selection(ray_session, coreset_config, test_registry):
    coreset_config.coreset.selection.max_points_per_task = 20  # books (48 left) runs as 3 shard tasks + merge
    outcomes = run_pipeline(coreset_config, test_registry)
    manifest = outcomes[-1].manifest
    stats = manifest["stats"]

    removed = {f["filter"]: {d: n for d, n in f["removed"].items() if n} for f in stats["filters"]}
    assert removed == REMOVED_BY
    assert stats["filters"][0]["before"] == {"books": 55, "games": 12, "symbols": 3}
    assert stats["filters"][-1]["after"] == {"books": 48, "games": 12, "symbols": 0}
    assert manifest["rows"]["quarantined"] == {"invalid_embedding": 1, "missing_embedding": 1}
    assert any("1 item(s) have no embedding" in w for w in manifest["warnings"])
    assert any("'symbols' has no texts after filtering" in w for w in manifest["warnings"])
    assert stats["empty_domains"] == ["symbols"]

    expected = allocate({"books": 48, "games": 12, "symbols": 0}, 30, alpha=0.5).counts
    assert stats["budget"]["counts"] == expected == {"books": 20, "games": 10, "symbols": 0}
    assert {d: h["selected"] for d, h in stats["domain_histogram"].items()} == expected
    assert stats["selection"]["books"]["path"] == "kcenter_two_stage"
    assert stats["selection"]["books"]["radius_is_bound"] and stats["selection"]["books"]["shards"] == 3
    assert stats["selection"]["games"]["path"] == "kcenter"

    corpus = pq.read_table(f"{outcomes[-1].folder}/corpus")
    assert corpus.schema.equals(CORPUS_SCHEMA) and corpus.num_rows == manifest["rows"]["out"] == 30
    assert not PLANTED & set(corpus.column("item_id").to_pylist())
    assert {"b000", "b001"} <= set(corpus.column("item_id").to_pylist()) | set(_survivors("books"))

    # the Ray path (shard tasks + merge task) equals the plain function on the same survivors
    _, vectors = planted_items()
    for domain in ("books", "games"):
        part = corpus.filter(pc.equal(corpus.column("domain"), domain))
        assert part.column("selection_order").to_pylist() == list(range(expected[domain]))
        ids = _survivors(domain)
        x = normalize_rows(np.stack([vectors[i] for i in ids]))
        sel = select_domain(x, expected[domain], coreset_config.coreset.selection, domain_seed(0, domain))
        assert part.column("item_id").to_pylist() == [ids[i] for i in sel.indices]
        np.testing.assert_allclose(part.column("distance_at_selection").to_numpy()[1:], sel.distances[1:], rtol=1e-5)

    again = run_pipeline(coreset_config, test_registry)
    assert [o.status for o in again] == ["skipped", "skipped"]


def _survivors(domain: str) -> list[str]:
    rows, _ = planted_items()
    return sorted(r["item_id"] for r in rows if r["domain"] == domain and r["item_id"] not in PLANTED)


def test_train_domains_only_and_budget_beyond_survivors(ray_session, coreset_config, test_registry):
    coreset_config.run.stages = ["fake_upstream", "fake_domains", "coreset"]
    coreset_config.coreset.budget.total = 1000
    coreset_config.coreset.quality.dedup_scope = DedupScope.DOMAIN
    outcome = run_pipeline(coreset_config, test_registry)[-1]
    stats = outcome.manifest["stats"]
    assert stats["skipped_domains"] == {"games": "benchmark"}
    assert outcome.manifest["rows"]["out"] == 48  # every book that survived the filters
    assert any("budget total 1000 exceeds the 48 texts" in w for w in outcome.manifest["warnings"])
    books = stats["selection"]["books"]
    assert books["path"] == "all" and "all 48 points selected" in books["message"]
    corpus = pq.read_table(f"{outcome.folder}/corpus")
    assert set(corpus.column("domain").to_pylist()) == {"books"}
    assert np.isnan(corpus.column("distance_at_selection").to_numpy()).all()


def test_missing_embeddings_can_be_an_error(ray_session, coreset_config, test_registry):
    from gre_ray.coreset.config import MissingEmbedding

    coreset_config.coreset.on_missing_embedding = MissingEmbedding.ERROR
    with pytest.raises(DataError, match="1 item\\(s\\) have no embedding, e.g. 'b_missing'"):
        run_pipeline(coreset_config, test_registry)
