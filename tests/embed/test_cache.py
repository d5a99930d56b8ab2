"""Content keys: weights by their bytes, texts by their (id, text) pairs; and checks before any work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from gre_ray.data.storage import Location
from gre_ray.embed.cache import cache_key, embed_items, texts_fingerprint
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.encoder import resolve_spec
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.embed.pipeline import embed_items_to
from gre_ray.embed.pooling import Pooling
from gre_ray.errors import DataError
from tests.embed.conftest import items_table


def test_new_weights_under_the_same_path_change_the_key(tiny_bert_path, tmp_path):
    from transformers import AutoModel

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_path, folder)
    spec = resolve_spec(EncoderConfig(model=str(folder)))
    before = model_fingerprint(folder)
    (folder / "README.md").write_text("documentation does not change the vectors")
    assert model_fingerprint(folder) == before

    model = AutoModel.from_pretrained(folder)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[5, 0] += 1e-3
    model.save_pretrained(folder)
    after = model_fingerprint(folder)
    assert after != before
    assert cache_key(spec, after, "t") != cache_key(spec, before, "t")


def test_key_follows_settings_and_texts(tiny_bert_path):
    spec = resolve_spec(EncoderConfig(model=tiny_bert_path))
    keys = {
        cache_key(spec, "w", "t"),
        cache_key(resolve_spec(EncoderConfig(model=tiny_bert_path, pooling=Pooling.CLS)), "w", "t"),
        cache_key(resolve_spec(EncoderConfig(model=tiny_bert_path, normalize=False)), "w", "t"),
        cache_key(resolve_spec(EncoderConfig(model=tiny_bert_path, prefix="passage: ")), "w", "t"),
        cache_key(resolve_spec(EncoderConfig(model=tiny_bert_path, max_length=32)), "w", "t"),
        cache_key(spec, "w", "t2"),
    }
    assert len(keys) == 6


def test_texts_fingerprint_ignores_order_not_content():
    table = pa.table({"item_id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    assert texts_fingerprint(table) == texts_fingerprint(table.take([2, 0, 1]))
    other_text = pa.table({"item_id": ["a", "b", "c"], "text": ["x", "y", "Z"]})
    other_pairs = pa.table({"item_id": ["a", "c", "b"], "text": ["x", "y", "z"]})
    assert texts_fingerprint(table) != texts_fingerprint(other_text)
    assert texts_fingerprint(table) != texts_fingerprint(other_pairs)


def test_duplicate_ids_fail_before_any_work(tiny_bert_path, tmp_path):
    table = pa.table({"item_id": ["a", "b", "a"], "text": ["x", "y", "z"]})
    settings = EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path))
    with pytest.raises(DataError, match="'a'"):
        embed_items_to(table, settings, Location.of(tmp_path / "out"))
    with pytest.raises(DataError, match="'a'"):
        embed_items(table, settings.encoder, tmp_path / "cache")
    assert not (tmp_path / "out").exists() and not any(Path(tmp_path / "cache").glob("*"))


def test_items_without_text_column(tiny_bert_path, tmp_path):
    items = Location.of(tmp_path / "items")
    from gre_ray.data.storage import write_table

    write_table(pa.table({"item_id": ["a"], "title": ["x"]}), items)
    with pytest.raises(DataError, match="missing column 'text'"):
        embed_items_to(items, EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)), Location.of(tmp_path / "out"))
    with pytest.raises(DataError, match="does not exist"):
        embed_items_to(Location.of(tmp_path / "missing"), EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)),
                       Location.of(tmp_path / "out"))


def test_empty_items_table_gives_an_empty_embeddings_table(tiny_bert_path, tmp_path):
    from gre_ray.embed.vectors import read_embeddings

    report = embed_items_to(items_table([]), EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)),
                            Location.of(tmp_path / "out"))
    ids, matrix = read_embeddings(Location.of(tmp_path / "out"))
    assert report.rows == 0 and len(ids) == 0 and matrix.shape == (0, 32)
