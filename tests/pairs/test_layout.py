"""The pairs stage's task fan-out is bounded (counting by the cluster's CPUs, pair shards by a
constant), whatever ``rows_per_shard`` is; the pair shards, which fix the written folder, do not
depend on the cluster."""

from __future__ import annotations

import collections

import pyarrow.compute as pc

from gre_ray.data.schema import ITEMS, PAIRS
from gre_ray.data.storage import Location, read_table
from gre_ray.pairs.config import PairsConfig
from gre_ray.pairs.domain import domain_items
from gre_ray.pairs.mine import mine_domain
from gre_ray.pairs.rounds import MAX_PAIR_SHARDS, ROWS_PER_PAIR_SHARD, SHARDS_PER_CPU, Layout
from gre_ray.runner.runner import run_pipeline
from tests.pairs.test_sharded import _sorted_domain
from tests.pairs.test_stage import REGISTRY, make_config


def test_layout_is_bounded_and_its_pair_shards_do_not_depend_on_the_cluster():
    tiny = PairsConfig(rows_per_shard=1)
    assert Layout.of(10_000, tiny, cpus=2) == Layout(2 * SHARDS_PER_CPU, 2)
    assert Layout.of(10_000, tiny, cpus=1) == Layout(SHARDS_PER_CPU, 2)
    assert Layout.of(3, tiny, cpus=16) == Layout(3, 2)
    assert Layout.of(5_000_000, PairsConfig(), cpus=16) == Layout(5, 5)  # rows_per_shard rules below the caps
    assert Layout.of(1_000, PairsConfig(), cpus=4) == Layout(1, 2)
    assert Layout.of(3_500_000, tiny, cpus=2) == Layout(2 * SHARDS_PER_CPU, 4)  # a pair shard per million rows
    assert Layout.of(10**9, tiny, cpus=64).pair_shards == MAX_PAIR_SHARDS
    assert Layout.of(10_000, PairsConfig(rows_per_shard=1, pair_shards=3), cpus=2).pair_shards == 3  # asked for
    smoke = PairsConfig(rows_per_shard=200)  # a laptop, a cluster, an autoscaling cluster while it grows
    assert {Layout.of(rows, smoke, cpus).pair_shards for cpus in (1, 2, 7, 10, 64) for rows in [5_200]} == {2}
    assert {Layout.of(4_000_000, smoke, cpus).pair_shards for cpus in (1, 2, 7, 10, 64)} == {4}
    assert ROWS_PER_PAIR_SHARD == 1_000_000


class _Counted:
    """A remote function or actor class whose ``.remote`` calls are counted by name."""

    def __init__(self, remote, name: str, calls: collections.Counter) -> None:
        self._remote, self._name, self._calls = remote, name, calls

    def options(self, **kwargs):
        return _Counted(self._remote.options(**kwargs), self._name, self._calls)

    def remote(self, *args, **kwargs):
        self._calls[self._name] += 1
        return self._remote.remote(*args, **kwargs)


def test_tiny_rows_per_shard_submits_a_bounded_number_of_tasks(ray_session, tmp_path, monkeypatch):
    import ray

    calls: collections.Counter = collections.Counter()
    real = ray.remote

    def counting(*args, **kwargs):
        if args and callable(args[0]) and not kwargs:
            return _Counted(real(args[0]), args[0].__name__, calls)
        return lambda fn: _Counted(real(**kwargs)(fn), fn.__name__, calls)

    run_pipeline(make_config(tmp_path, stages=("demo_data", "tfidf_embed")), REGISTRY)  # inputs, not counted
    config = make_config(tmp_path, rows_per_shard=1, num_negatives=3)
    monkeypatch.setattr(ray, "remote", counting)
    outcome = {o.name: o for o in run_pipeline(config, REGISTRY)}["pairs"]
    monkeypatch.undo()

    cpus = int(ray.cluster_resources()["CPU"])
    cap = SHARDS_PER_CPU * cpus
    pair_cap = 2  # a pair shard per million interactions, at least 2
    stats = outcome.manifest["stats"]["domains"]
    interactions = read_table(Location.of(tmp_path) / "demo_data" / "interactions")
    assert interactions.num_rows > 100 * cap  # rows_per_shard=1 would have asked for one shard per row
    for domain in stats:
        assert stats[domain]["layout"]["user_shards"] == cap and stats[domain]["layout"]["pair_shards"] == pair_cap
    assert calls["user_shard"] == cap and calls["pair_shard"] == pair_cap and calls["write_shard"] == pair_cap
    assert calls["KeyHolder"] <= cpus  # zero-CPU actors: one per CPU at most
    domains = len(stats)
    files = calls["read_file"]
    # per user shard a counting task; per pair shard five rounds, six threshold tasks (two series,
    # three passes), an anchors task per domain
    assert sum(calls.values()) <= 2 * files + 1 + 5 * domains + cap + pair_cap * (12 + domains)

    root = Location.of(tmp_path)
    pairs = read_table(root / "pairs" / "pairs", PAIRS)
    items = read_table(root / "demo_data" / "items", ITEMS)
    embeddings = read_table(root / "tfidf_embed" / "embeddings")
    for domain in stats:
        def of(t):
            return t.filter(pc.equal(t.column("domain"), domain))

        one = mine_domain(of(interactions), domain_items(domain, of(items), embeddings), config.pairs)
        assert _sorted_domain(pairs, domain).equals(one.table), domain


def test_more_negatives_than_a_domain_has_items_is_one_line(ray_session, tmp_path):
    config = make_config(tmp_path, num_negatives=150)  # each domain has 120 items
    outcome = {o.name: o for o in run_pipeline(config, REGISTRY)}["pairs"]
    lines = [w for w in outcome.manifest["warnings"] if "num_negatives (150)" in w]
    assert len(lines) == len(outcome.manifest["stats"]["domains"]) and "'outdoor' has 120 items" in " ".join(lines)
