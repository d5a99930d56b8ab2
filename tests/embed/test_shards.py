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
