"""The sharded embeddings and index against one flat index over all vectors; the Ray path against the plain encoder."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from gre_ray.data.storage import Location
from gre_ray.embed import shards
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.index import EmbeddingIndex, IndexConfig, Metric
from gre_ray.embed.vectors import embeddings_table, read_embeddings
from tests.embed.conftest import items_table, mixed_texts


def _sharded(tmp_path, ids, vectors, call_rows: int, config: IndexConfig) -> shards.ShardedIndex:
    staging, out, index = (Location.of(tmp_path / n) for n in ("calls", "emb", "index"))
    for a in range(0, len(ids), call_rows):
        shards.write_call(embeddings_table(ids[a : a + call_rows], vectors[a : a + call_rows]), staging)
    groups = shards.plan_shards(staging, config.shard_rows)
    built = [shards.build_shard(files, staging, i, out, index, config) for i, files in enumerate(groups)]
    shards.write_shard_list(index, config, vectors.shape[1], built)
    assert sum(built) == len(ids) and max(built) <= config.shard_rows
    return shards.ShardedIndex.load(index)


@pytest.mark.parametrize("metric", [Metric.INNER_PRODUCT, Metric.L2])
def test_sharded_flat_index_equals_one_flat_index(tmp_path, metric):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((230, 12)).astype(np.float32)
    ids = np.array([f"item{i:03d}" for i in range(230)], dtype=object)
    config = IndexConfig(metric=metric, shard_rows=50)
    sharded = _sharded(tmp_path, ids, vectors, 16, config)
    whole = EmbeddingIndex.build(ids, vectors, config)
    assert len(sharded) == 230 and len(sharded.shards) == 5  # 48 rows per shard: three calls of 16

    queries = rng.standard_normal((25, 12)).astype(np.float32)
    got, got_scores = sharded.search(queries, 7)
    want, want_scores = whole.search(queries, 7)
    assert got.tolist() == want.tolist()
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)
    some = ["item000", "item117", "item229"]
    assert sharded.neighbours_of(some, 5)[0].tolist() == whole.neighbours_of(some, 5)[0].tolist()
    np.testing.assert_array_equal(sharded.vectors_of(some), whole.vectors_of(some))
    with pytest.raises(KeyError, match="nope"):
        sharded.vectors_of(["nope"])
    emb_ids, emb = read_embeddings(Location.of(tmp_path / "emb"))
    assert sorted(emb_ids) == sorted(ids) and len(Location.of(tmp_path / "emb").files()) == 5


def test_ray_pipeline_writes_shards_equal_to_the_plain_path(ray_session, tiny_bert_path, tiny_encoder, tmp_path):
    from gre_ray.wiring.embed_pipeline import embed_and_index

    texts = mixed_texts(70, max_words=40)
    table = items_table(texts)
    settings = EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path), actors=2, rows_per_call=8,
                           index=IndexConfig(shard_rows=20))
    out, index = Location.of(tmp_path / "emb"), Location.of(tmp_path / "index")
    figures = embed_and_index(table, settings, out, index)
    assert figures["rows"] == 70 and figures["index"]["rows"] == 70 and figures["index"]["shards"] == 5
    assert not (tmp_path / "_emb-calls").exists()  # the call files are joined into the shards

    ids, vectors = read_embeddings(out)
    plain = tiny_encoder.encode(texts)
    position = {item_id: i for i, item_id in enumerate(ids)}
    np.testing.assert_allclose(vectors[[position[i] for i in table.column("item_id").to_pylist()]], plain,
                               atol=1e-5)
    assert all(pq.ParquetFile(f.path).metadata.num_rows <= 20 for f in out.files())
    sharded = shards.ShardedIndex.load(index, keep_loaded=True)
    whole = EmbeddingIndex.build(ids, vectors, settings.index)
    some = table.column("item_id").to_pylist()[::9]
    assert sharded.neighbours_of(some, 4)[0].tolist() == whole.neighbours_of(some, 4)[0].tolist()


def _per_row_stats(rows: int, worker: str, first: int, errors: dict[int, str]) -> "pa.Table":
    """Per-row bookkeeping columns as an actor call makes them (STAT_COLUMNS), with hand-picked values."""
    import pyarrow as pa

    return pa.table({
        "_n_tokens": pa.array([3 + (first + i) % 5 for i in range(rows)], pa.int32()),
        "_padded_tokens": pa.array([8] * rows, pa.int32()),
        "_truncated": pa.array([(first + i) % 7 == 0 for i in range(rows)]),
        "_empty": pa.array([(first + i) % 11 == 0 for i in range(rows)]),
        "_text_hash": pa.array([(first + i) % 13 for i in range(rows)], pa.uint64()),  # texts repeat every 13 rows
        "_busy_s": pa.array([0.25] * rows, pa.float64()),
        "_cpu_s": pa.array([0.5] * rows, pa.float64()),
        "_peak_rss_mb": pa.array([100.0 + first] * rows, pa.float32()),
        "_worker": pa.array([worker] * rows),
        "_error": pa.array([errors.get(first + i) for i in range(rows)], pa.string()),
    })


def test_call_summaries_give_the_per_row_report(tmp_path):
    """What the driver now gets (a summary row per call, hashes on disk) reports what the per-row columns did."""
    import pyarrow as pa

    from gre_ray.embed import job

    calls = [_per_row_stats(16, f"w{c % 2}", 16 * c, {}) for c in range(5)]
    hashes = Location.of(tmp_path / "hashes")
    for c, call in enumerate(calls):
        shards.write_call(call.append_column("item_id", pa.array([f"i{16 * c + i}" for i in range(16)]))
                          .append_column("embedding", pa.array([[0.0]] * 16, pa.list_(pa.float32(), 1))),
                          Location.of(tmp_path / "calls"), hashes)
    summaries = [job.call_summary(c) for c in calls]
    assert [s.num_rows for s in summaries] == [1] * 5  # one row per call, whatever its rows
    error, report = shards.call_report(10.0, 2, "items", hashes, *summaries)
    want = job.run_report(pa.concat_tables(calls), 10.0, 2)
    assert error is None and report == want
    # hand-computed: 80 rows, 13 distinct texts; tokens 3..7 cycling (sum of 16 cycles of 25); w0 has calls 0, 2, 4
    assert (report.rows, report.duplicate_texts, report.tokens) == (80, 67, 16 * 25)
    assert report.truncated_texts == 12 and report.empty_texts == 8  # multiples of 7 and of 11 in 0..79
    assert report.workers["w0"] == {"rows": 48, "busy_s": 12.0, "cpu_s": 24.0, "peak_rss_mb": 164.0}


def test_a_call_with_undecodable_texts_is_one_line_from_the_summaries(tmp_path):
    from gre_ray.embed import job

    calls = [_per_row_stats(4, "w", 0, {}), _per_row_stats(4, "w", 4, {5: "item i5: not UTF-8", 7: "item i7: x"})]
    error, _ = shards.call_report(1.0, 1, "items.parquet", Location.of(tmp_path / "none"),
                                  *[job.call_summary(c) for c in calls])
    assert error == "items.parquet: 2 text(s) could not be decoded, e.g. item i5: not UTF-8"
