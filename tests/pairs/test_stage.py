"""The ``pairs`` stage on Ray: demo data → a stand-in ``embeddings`` stage → pairs.

The embedding stage is replaced by a TF-IDF stage registered only in this test's registry,
so these tests do not depend on the encoder. The sharded Ray path must give exactly what
the one-process :func:`mine_domain` gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gre_ray.data.schema import ITEMS, PAIRS
from gre_ray.data.storage import Location, read_table, write_table
from gre_ray.demo.generator import DemoDataConfig, DemoSize
from gre_ray.pairs.config import CoocScore, PairsConfig, ThresholdConfig, ThresholdMode
from gre_ray.pairs.domain import domain_items
from gre_ray.pairs.mine import mine_domain
from gre_ray.root_config import GreConfig, load_config
from gre_ray.runner.runner import run_pipeline
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages.demo_data import DemoDataStage
from gre_ray.stages.pairs import PairsStage
from tests.pairs.helpers import tfidf_embeddings


class TfidfEmbedStage(Stage):
    """Writes TF-IDF vectors of every item as the ``embeddings`` artifact."""

    name = "tfidf_embed"
    requires = ("items",)
    provides = ("embeddings",)

    def settings(self, config):
        return {"kind": "tfidf"}

    def run(self, ctx: StageContext) -> None:
        items = read_table(ctx.input("items"), ITEMS)
        write_table(tfidf_embeddings(items), ctx.out("embeddings"))


REGISTRY = {"demo_data": DemoDataStage, "tfidf_embed": TfidfEmbedStage, "pairs": PairsStage}


def make_config(root, stages=("demo_data", "tfidf_embed", "pairs"), **pairs):
    config = GreConfig()
    config.run.root = str(root)
    config.run.stages = list(stages)
    config.demo_data = DemoDataConfig(size=DemoSize.DEMO, users_per_domain=300, items_per_domain=120, domains=["outdoor", "kitchen", "fiction"])
    config.pairs = PairsConfig(**pairs)
    return config


@pytest.fixture(scope="module")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pairs_run")


def _by_domain(table: pa.Table, domain: str) -> pa.Table:
    return table.filter(pc.equal(table.column("domain"), domain))


@pytest.mark.parametrize("score", [CoocScore.COSINE, CoocScore.SWING])
def test_sharded_stage_matches_one_process(ray_session, run_root, score):
    config = make_config(run_root, rows_per_shard=1500, score=score)
    outcomes = {o.name: o for o in run_pipeline(config, REGISTRY)}
    manifest = outcomes["pairs"].manifest
    stats = manifest["stats"]
    pairs = read_table(Location.of(run_root) / "pairs" / "pairs", PAIRS)

    # Training domains only: kitchen (benchmark) is skipped, outdoor and fiction are mined.
    assert sorted(set(pairs.column("domain").to_pylist())) == ["fiction", "outdoor"]
    assert stats["skipped_domains"] == {"kitchen": "benchmark"}
    assert manifest["rows"]["out"] == pairs.num_rows > 0

    root = Location.of(run_root)
    items = read_table(root / "demo_data" / "items", ITEMS)
    interactions = read_table(root / "demo_data" / "interactions")
    embeddings = read_table(root / "tfidf_embed" / "embeddings")
    for domain in ("outdoor", "fiction"):
        one = mine_domain(
            _by_domain(interactions, domain),
            domain_items(domain, _by_domain(items, domain), embeddings),
            config.pairs,
        )
        got = _by_domain(pairs, domain).sort_by([("item_a", "ascending"), ("item_b", "ascending")])
        assert got.num_rows == one.table.num_rows
        for column in ("item_a", "item_b", "neg_item_ids"):
            assert got.column(column).to_pylist() == one.table.column(column).to_pylist()
        assert np.allclose(got.column("cooc_score").to_numpy(), one.table.column("cooc_score").to_numpy(), rtol=1e-5)
        assert stats["domains"][domain]["thresholds"] == one.stats["thresholds"]
        for key in ("sequences", "cooccurring_pairs", "support_pairs", "candidates", "kept", "cooc_score", "text_sim",
                    "support_kept", "negatives"):
            assert stats["domains"][domain][key] == one.stats[key], key
        assert stats["domains"][domain]["thresholds"]["cooc_rule"] == "quantile 0.75"
        # Precision against the planted partners is in the stats, far above chance.
        planted = stats["domains"][domain]["planted"]
        assert planted["lift"] > (10 if score == CoocScore.COSINE else 5), planted
    assert 0 < stats["totals"]["planted_precision"] <= 1


def test_all_domains_switch_and_a_domain_without_pairs_warns(ray_session, run_root):
    pinned = ThresholdConfig(mode=ThresholdMode.QUANTILE, value=0.75, per_domain={"kitchen": 99.0})
    config = make_config(run_root, train_domains_only=False, cooc_threshold=pinned)
    outcome = {o.name: o for o in run_pipeline(config, REGISTRY)}["pairs"]
    stats = outcome.manifest["stats"]
    assert stats["totals"]["domains_mined"] == 3
    assert stats["totals"]["domains_without_pairs"] == ["kitchen"]
    assert any("kitchen" in w and "no pair passed" in w for w in outcome.manifest["warnings"])
    assert stats["domains"]["kitchen"]["thresholds"]["cooc_rule"] == "per_domain"


def test_without_a_domains_artifact_every_domain_is_mined_with_a_warning(ray_session, tmp_path):
    class ItemsOnly(DemoDataStage):
        provides = ("items", "interactions")

    registry = {"demo_data": ItemsOnly, "tfidf_embed": TfidfEmbedStage, "pairs": PairsStage}
    config = make_config(tmp_path)
    config.demo_data = DemoDataConfig(size=DemoSize.TINY, domains=["outdoor", "kitchen"])
    outcome = {o.name: o for o in run_pipeline(config, registry)}["pairs"]
    assert outcome.manifest["stats"]["totals"]["domains_mined"] == 2
    assert any("no stage provides 'domains'" in w for w in outcome.manifest["warnings"])


def test_smoke_config_section_runs(ray_session, tmp_path):
    config = load_config(Path(__file__).parents[2] / "configs" / "demo.smoke.yaml")
    config.run.root = str(tmp_path)
    config.run.stages = ["demo_data", "tfidf_embed", "pairs"]
    config.demo_data.domains = ["outdoor", "womenswear"]
    outcome = {o.name: o for o in run_pipeline(config, REGISTRY)}["pairs"]
    stats = outcome.manifest["stats"]
    assert stats["totals"]["pairs"] > 0
    assert set(stats["domains"]) == {"outdoor", "womenswear"}
