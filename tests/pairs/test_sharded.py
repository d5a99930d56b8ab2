"""Sharded pair mining: the pure pieces against their one-process versions, and the stage on demo data.

The stage test covers what the cosine test in test_stage.py does not: a counting window
(together-keys for negatives), PMI with a target-count threshold, and many user and pair
shards; pairs, thresholds and every manifest figure must equal :func:`mine_domain`'s.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gre_ray.data.schema import ITEMS, PAIRS
from gre_ray.data.storage import Location, read_table
from gre_ray.pairs import quantiles as qt
from gre_ray.pairs import shards as sh
from gre_ray.pairs.config import CoocScore, ThresholdConfig, ThresholdMode
from gre_ray.pairs.domain import domain_items
from gre_ray.pairs.mine import mine_domain
from gre_ray.pairs.thresholds import top_k_mask
from gre_ray.runner.runner import run_pipeline
from tests.pairs.test_stage import REGISTRY, make_config


def test_string_hash_depends_on_bytes_only():
    ids = pa.array(["u1", "u2", "", "u1", "a much longer user id ✓"])
    h = sh.string_hash(ids)
    assert h[0] == h[3] and len(set(h.tolist())) == 4
    # Slices and chunking do not change a string's hash.
    assert sh.string_hash(ids.slice(3, 2)).tolist() == h[3:].tolist()
    assert sh.string_hash(pa.chunked_array([ids[:2], ids[2:]])).tolist() == h.tolist()


def test_split_by_shard_keeps_row_order():
    parts = sh.split_by_shard(np.array([1, 0, 1, 2, 0]), 3)
    assert [p.tolist() for p in parts] == [[1, 4], [0, 2], [3]]


def test_reduce_counts_sums_equal_keys():
    keys, counts = sh.reduce_counts([np.array([5, 1, 9]), np.array([1, 5])], [np.array([1, 2, 3]), np.array([4, 1])])
    assert keys.tolist() == [1, 5, 9] and counts.tolist() == [6, 2, 3]


@pytest.mark.parametrize("k", [1, 3])
def test_two_level_top_k_equals_the_one_process_mask(k):
    rng = np.random.default_rng(0)
    n = 40
    keys = np.unique(rng.integers(0, n * n, 300))
    rows, cols = sh.key_parts(keys, n)
    keep = rows < cols
    rows, cols = rows[keep], cols[keep]
    scores = np.round(rng.random(len(rows)), 1)  # many ties: broken by partner id
    expected = sh.pair_keys(rows, cols, n)[top_k_mask(rows, cols, scores, k)]

    shard = sh.pair_shard(sh.pair_keys(rows, cols, n), 4)
    entries = [sh.local_top_k(rows[shard == s], cols[shard == s], scores[shard == s], k) for s in range(4)]
    item, partner, score = (np.concatenate([e[i] for e in entries]) for i in range(3))
    assert sh.global_top_k(item, partner, score, k, n).tolist() == sorted(expected.tolist())


@pytest.mark.parametrize("ties", [False, True])
def test_exact_distributed_quantiles_equal_numpy(ties):
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=m) for m in (0, 7, 1000, 333)]
    if ties:
        parts = [np.round(p, 1) for p in parts]
    joined = np.concatenate(parts)
    qs = np.array([0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1.0])
    r = qt.merge_ranges([qt.value_range(p) for p in parts])
    assert (r.n, r.lo, r.hi) == (len(joined), joined.min(), joined.max())
    hist = np.sum([qt.histogram(p, r, bins=64) for p in parts], axis=0)
    ranks = qt.quantile_ranks(r.n, qs)
    wanted = np.unique(qt.bins_of_ranks(hist, ranks))
    values = qt.values_at_ranks(hist, r, ranks, [qt.bin_values(p, r, wanted, bins=64) for p in parts], bins=64)
    assert values.tolist() == np.sort(joined)[ranks].tolist()
    got = qt.linear_quantile(r.n, qs, dict(zip(ranks.tolist(), values.tolist())))
    assert got.tolist() == np.quantile(joined, qs).tolist()  # bit-identical


def _sorted_domain(table: pa.Table, domain: str) -> pa.Table:
    got = table.filter(pc.equal(table.column("domain"), domain))
    return got.sort_by([("item_a", "ascending"), ("item_b", "ascending")])


@pytest.mark.parametrize(
    "settings",
    [
        {"window": 2, "rows_per_shard": 700, "pair_shards": 3, "num_negatives": 6},
        {"score": CoocScore.PMI, "rows_per_shard": 400, "pair_shards": 5, "key_holders": 3, "top_k": None,
         "max_items_per_user": 4,
         "cooc_threshold": ThresholdConfig(mode=ThresholdMode.TARGET_COUNT, target_pairs=40),
         "text_threshold": ThresholdConfig(mode=ThresholdMode.FIXED, value=0.01)},
    ],
    ids=["window", "pmi-target-capped"],
)
def test_sharded_stage_equals_one_process(ray_session, tmp_path, settings):
    config = make_config(tmp_path, **settings)
    outcome = {o.name: o for o in run_pipeline(config, REGISTRY)}["pairs"]
    stats = outcome.manifest["stats"]["domains"]
    root = Location.of(tmp_path)
    pairs = read_table(root / "pairs" / "pairs", PAIRS)
    items = read_table(root / "demo_data" / "items", ITEMS)
    interactions = read_table(root / "demo_data" / "interactions")
    embeddings = read_table(root / "tfidf_embed" / "embeddings")
    for domain in ("outdoor", "fiction"):
        def of(t):
            return t.filter(pc.equal(t.column("domain"), domain))

        one = mine_domain(of(interactions), domain_items(domain, of(items), embeddings), config.pairs)
        assert stats[domain]["layout"]["pair_shards"] == settings["pair_shards"]
        assert stats[domain]["layout"]["user_shards"] > 1
        assert stats[domain]["layout"]["key_holders"] == settings.get("key_holders", 2)  # default: one per CPU
        assert _sorted_domain(pairs, domain).equals(one.table), domain
        assert one.table.num_rows > 0
        for key, value in one.stats.items():
            assert stats[domain][key] == value, key
    if "max_items_per_user" in settings:
        assert sum(stats[d]["sequences"]["capped_users"] for d in stats) > 0
