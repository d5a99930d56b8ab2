"""The zero-training tier in chunks: the Ray tasks give exactly the one-process ranks, and a
chunk's memory does not grow with the catalogue."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.store import ResultsStore
from gre_ray.bench.zero_shot import local_ranks, zero_shot_table
from gre_ray.bench.zero_shot_chunks import ScoringJob, prepare_scoring, score_chunk, user_chunks
from gre_ray.data.storage import Location
from gre_ray.recsys import SplitConfig, make_split, save_split
from tests.bench.conftest import embeddings_table


def _jobs(tiny_inputs, tmp_path) -> list[ScoringJob]:
    """Each tiny dataset with random vectors, with and without a query side; one with tied vectors."""
    jobs = []
    for d in tiny_inputs:
        split = d.splits["retrieval"]
        ids = pq.read_table(d.embeddings["rand"].removeprefix("file://")).column("item_id").to_pylist()
        queries = tmp_path / f"{d.name}-queries.parquet"
        pq.write_table(embeddings_table(ids, seed=7), queries)
        tied = tmp_path / f"{d.name}-tied.parquet"  # 3 distinct vectors: most candidates tie with the target
        table = embeddings_table(ids, dim=4, seed=1)
        vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))[np.arange(len(ids)) % 3]
        pq.write_table(embeddings_table(ids, dim=4).set_column(1, "embedding", _fixed(vectors)), tied)
        jobs += [ScoringJob(split, d.embeddings["rand"], dataset=d.name),
                 ScoringJob(split, d.embeddings["rand"], f"file://{queries}", dataset=d.name),
                 ScoringJob(split, f"file://{tied}", dataset=d.name)]
    return jobs


def _fixed(vectors):
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).reshape(-1)), vectors.shape[1])


def test_the_ray_tasks_give_exactly_the_one_process_ranks(ray_session, tiny_inputs, tmp_path):
    """Small chunks (7 users a task, 13 items at a time) on random vectors; on vectors with
    exact ties, the default chunks, whose products have the one-process shapes (a tie is
    a tie only when both scores round alike)."""
    from gre_ray.wiring.zero_shot_tasks import cluster_ranks

    jobs = _jobs(tiny_inputs, tmp_path)
    random, tied = [j for i, j in enumerate(jobs) if i % 3 != 2], jobs[2::3]
    for chosen, chunks in ((random, {"user_chunk": 7, "item_chunk": 13}), (tied, {})):
        expected = local_ranks(chosen)
        got = cluster_ranks(chosen, Location.of(str(tmp_path / "work")), **chunks)
        assert len(got) == len(chosen)
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(g, e)
    assert all(e.min() > 0 for e in expected)  # the tied vectors do tie: pessimistic ranks
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())  # scoring files removed


def test_the_tier_through_the_ray_scorer_equals_the_local_one(ray_session, tiny_inputs, tmp_path):
    from gre_ray.wiring.zero_shot_tasks import cluster_scorer

    config = BenchmarkConfig()
    local = zero_shot_table(config, tiny_inputs, ResultsStore(str(tmp_path / "a")))
    on_ray = zero_shot_table(config, tiny_inputs, ResultsStore(str(tmp_path / "b")),
                             rank_jobs=cluster_scorer(Location.of(str(tmp_path / "w")), 0.0, lambda: None))
    assert len(local) == 4  # 2 datasets x 2 metrics
    pd.testing.assert_frame_equal(local, on_ray)


def test_the_chunks_cover_every_user_in_order(tiny_inputs, tmp_path):
    """Without Ray: chunked scoring of a prepared folder equals the one-process ranks."""
    job = _jobs(tiny_inputs, tmp_path)[1]
    inputs = prepare_scoring(job, str(tmp_path / "prepared"))
    ranks = np.concatenate([score_chunk(inputs, a, b, item_chunk=5) for a, b in user_chunks(inputs.n_users, 3)])
    np.testing.assert_array_equal(ranks, local_ranks([job])[0])


def _catalogue(tmp_path, n_items: int, dim: int = 32) -> str:
    """A retrieval split of ``n_items`` items, each seen once, by users of 5 items each (a
    chunk's histories stay the same size), and its vectors."""
    rng = np.random.default_rng(0)
    users = np.arange(n_items) // 5
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in range(n_items)],
                          "timestamp": np.arange(n_items), "domain": "big", "rating": 5.0})
    split = make_split(frame, SplitConfig(kind="retrieval", max_len=8), dataset="big")
    folder = tmp_path / f"n{n_items}"
    save_split(split, str(folder / "split"))
    ids = [f"i{i}" for i in range(n_items)]
    pq.write_table(embeddings_table(ids, dim=dim, seed=int(rng.integers(100))), folder / "emb.parquet")
    inputs = prepare_scoring(ScoringJob(str(folder / "split"), str(folder / "emb.parquet"), dataset="big"),
                             str(folder / "prepared"))
    return inputs


def _peak(inputs) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    score_chunk(inputs, 0, 32, item_chunk=512)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def test_a_chunks_memory_does_not_grow_with_the_catalogue(tmp_path):
    """Peak numpy allocation of one chunk's body (32 users, 512 item rows at a time) at a 2k
    and a 64k catalogue: the same, and far below the large catalogue's matrix (8 MiB)."""
    small, large = _catalogue(tmp_path, 2_000), _catalogue(tmp_path, 64_000)
    assert large.n_items == 64_001 and large.dim == 32
    peak_small, peak_large = _peak(small), _peak(large)
    catalogue_bytes = large.n_items * large.dim * 4
    assert peak_large <= peak_small * 1.1 + 16_384, (peak_small, peak_large)
    assert peak_large < catalogue_bytes / 20, (peak_large, catalogue_bytes)


def test_scoring_falls_back_to_cpus_on_a_cluster_without_gpus(ray_session):
    from gre_ray.wiring.zero_shot_tasks import scoring_gpus

    assert scoring_gpus(0.25) == 0.0 and scoring_gpus(0.0) == 0.0  # the test Ray has CPUs only
