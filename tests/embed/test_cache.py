"""Content keys: weights by their bytes, settings resolved from the folder, texts by their (id, text) pairs."""

from __future__ import annotations

import shutil

import pyarrow as pa
import torch

from gre_ray.embed.cache import cache_key, texts_fingerprint
from gre_ray.embed.config import EncoderConfig
from gre_ray.embed.encoder import resolve_spec
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.embed.pooling import Pooling


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
