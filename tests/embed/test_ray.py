"""The Ray Data pipeline against the plain encoder and Sentence-Transformers; the stage and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.data.storage import Location, read_json
from gre_ray.wiring import embed_pipeline
from gre_ray.wiring.embed_pipeline import embed_items
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.shards import ShardedIndex
from gre_ray.embed.vectors import read_embeddings
from tests.embed.conftest import items_table, mixed_texts


def _aligned(loc: Location, item_ids: list[str]) -> np.ndarray:
    ids, matrix = read_embeddings(loc)
    position = {item_id: i for i, item_id in enumerate(ids)}
    assert len(ids) == len(item_ids)
    return matrix[[position[i] for i in item_ids]]


def test_ray_pipeline_equals_plain_encoder_and_is_cached(
    ray_session, minilm_path, minilm_encoder, tmp_path, monkeypatch
):
    from sentence_transformers import SentenceTransformer

    texts = mixed_texts(60, max_words=300)
    table = items_table(texts)
    settings = EmbedConfig(actors=2, rows_per_call=16)
    loc = embed_items(table, EncoderConfig(model=minilm_path), tmp_path / "cache", settings)

    assert pq.read_schema(pq.ParquetDataset(loc.path).files[0]).field("embedding").type == pa.list_(pa.float32(), 384)
    ray_vectors = _aligned(loc, table.column("item_id").to_pylist())
    assert np.abs(ray_vectors - minilm_encoder.encode(texts)).max() < 1e-5
    st = SentenceTransformer(minilm_path, device="cpu").encode(texts, convert_to_numpy=True)
    assert (ray_vectors * st).sum(1).min() > 0.9999  # both unit vectors

    manifest = read_json(loc.parent / "manifest.json")
    assert (manifest["rows"], manifest["empty_texts"], manifest["dim"]) == (60, 2, 384)
    assert manifest["truncated_texts"] > 0 and manifest["duplicate_texts"] >= 1
    assert manifest["tokens"] <= manifest["padded_tokens"] and manifest["texts_per_s"] > 0
    assert len(manifest["workers"]) == 2 and all(w["peak_rss_mb"] > 100 for w in manifest["workers"].values())
    index = ShardedIndex.load(loc.parent / "index")
    assert index.neighbours_of(["it0000"], 1)[0][0, 0] == "it0003"  # it0003 repeats it0000's text

    monkeypatch.setattr(embed_pipeline, "embed_to_folder", lambda *a, **k: pytest.fail("cache entry recomputed"))
    reordered = table.take(list(range(59, -1, -1)))
    assert embed_items(reordered, EncoderConfig(model=minilm_path), tmp_path / "cache", settings) == loc


def test_embed_stage_through_the_runner_and_cli(ray_session, tiny_bert_path, tmp_path, capsys):
    from gre_ray.cli import main as cli_main
    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config

    config = load_config(None, [f"run.root={tmp_path / 'run'}", "run.stages=[demo_data, embed]",
                                "demo_data.size=tiny", "demo_data.domains=[fiction, videogames]",
                                "embed.actors=1", "embed.rows_per_call=32"])
    outcomes = run_config(config)
    assert [o.status for o in outcomes] == ["ran", "ran"]
    manifest = outcomes[1].manifest
    items = pq.read_table(tmp_path / "run" / "demo_data" / "items")
    assert manifest["rows"]["out"] == items.num_rows == manifest["stats"]["rows"]
    assert set(manifest["external_inputs"]) == {"model_weights"}
    assert manifest["stats"]["encoder"]["pooling"] == "mean" and manifest["stats"]["encoder"]["max_length"] == 256
    folder = Location.of(tmp_path / "run" / "embed")
    ids, vectors = read_embeddings(folder / "embeddings")
    assert sorted(ids) == sorted(items.column("item_id").to_pylist()) and vectors.shape[1] == 384
    assert len(ShardedIndex.load(folder / "index")) == len(ids)
    assert [o.status for o in run_config(config)] == ["skipped", "skipped"]

    out = tmp_path / "cli"
    assert cli_main(["embed", "--items", str(tmp_path / "run" / "demo_data" / "items"), "--model", tiny_bert_path,
                     "--out", str(out), "--pooling", "cls", "--actors", "1", "--set", "rows_per_call=64"]) == 0
    written = json.loads((out / "manifest.json").read_text())
    assert written["encoder"]["pooling"] == "cls" and written["dim"] == 32 and written["rows"] == items.num_rows
    bad_model = ["embed", "--items", str(out), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]
    assert cli_main(bad_model) == 2
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "x").exists()
