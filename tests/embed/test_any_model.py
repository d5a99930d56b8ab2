"""Any embedding model: Sentence-Transformers stacks beyond Transformer + Pooling run through
SentenceTransformer itself; custom code is an explicit opt-in; Matryoshka truncation;
decoder embedders with last-token pooling; precomputed vectors checked against the items."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gre_ray.embed.config import Backend, EncoderConfig
from gre_ray.embed.encoder import Encoder, resolve_spec
from gre_ray.embed.precomputed import read_vectors
from gre_ray.errors import ConfigError, DataError
from tests.embed.conftest import mixed_texts

TEXTS = mixed_texts(12, seed=3, max_words=30)


@pytest.fixture(scope="module")
def dense_stack(tmp_path_factory, tiny_bert_path) -> str:
    """A Sentence-Transformers folder: tiny BERT, max pooling, a Dense head, Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer

    torch.manual_seed(1)
    word = Transformer(tiny_bert_path, max_seq_length=64)
    model = SentenceTransformer(modules=[word, Pooling(32, pooling_mode="max"), Dense(32, 16), Normalize()])
    folder = tmp_path_factory.mktemp("dense_stack")
    model.save(str(folder))
    return str(folder)


def test_a_dense_stack_runs_through_sentence_transformers_with_its_vectors(dense_stack):
    from sentence_transformers import SentenceTransformer

    spec = resolve_spec(EncoderConfig(model=dense_stack))
    assert spec.backend is Backend.SENTENCE_TRANSFORMERS
    encoder = Encoder.from_config(EncoderConfig(model=dense_stack, device="cpu"))
    assert encoder.dim == 16
    expected = SentenceTransformer(dense_stack, device="cpu").encode([t if t.strip() else "" for t in TEXTS])
    got = encoder.encode(TEXTS)
    assert got.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_forcing_the_transformers_backend_on_a_dense_stack_names_the_module(dense_stack):
    with pytest.raises(ConfigError, match=r"unsupported module for backend transformers \(pooling 'max', module Dense"):
        resolve_spec(EncoderConfig(model=dense_stack, backend="transformers"))


def test_matryoshka_dimension_truncates_then_renormalises(dense_stack, minilm_encoder, minilm_path):
    full = minilm_encoder.encode(TEXTS)
    short = Encoder.from_config(EncoderConfig(model=minilm_path, dim=64)).encode(TEXTS)
    expected = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-5)
    st_short = Encoder.from_config(EncoderConfig(model=dense_stack, dim=4)).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(st_short, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="encoder.dim 999 exceeds the model's output dimension 384"):
        Encoder.from_config(EncoderConfig(model=minilm_path, dim=999))


def test_a_model_with_its_own_code_needs_trust_remote_code(tmp_path, tiny_bert_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_bert_path, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"needs trust_remote_code: config.json maps its model classes .*auto_map"):
        resolve_spec(EncoderConfig(model=str(folder)))
    assert resolve_spec(EncoderConfig(model=str(folder), trust_remote_code=True)).trust_remote_code


def test_an_unknown_module_type_is_named(tmp_path, dense_stack):
    folder = tmp_path / "odd"
    shutil.copytree(dense_stack, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "sentence_transformers.models.NoSuchPooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="unsupported module 'sentence_transformers.models.NoSuchPooling'"):
        resolve_spec(EncoderConfig(model=str(folder)))


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory, minilm_path) -> str:
    """A tiny random Llama (a decoder) with MiniLM's tokenizer, saved as an HF folder."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=tokenizer.pad_token_id)
    folder = tmp_path_factory.mktemp("tiny_llama")
    LlamaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_decoder_with_last_token_pooling_embeds_each_text_as_alone(tiny_decoder):
    """Batched with padding, each vector is the last real token's state of the text run alone
    (causal attention: only the last token has seen the whole text)."""
    from transformers import AutoModel, AutoTokenizer

    encoder = Encoder.from_config(EncoderConfig(model=tiny_decoder, pooling="last_token", normalize=False))
    texts = ["warm tent", "a long text about espresso grinders and ceramic mugs", "console"]
    got = encoder.encode(texts, token_budget=4096)
    model, tok = AutoModel.from_pretrained(tiny_decoder).eval(), AutoTokenizer.from_pretrained(tiny_decoder)
    with torch.no_grad():
        alone = [model(**tok(t, return_tensors="pt")).last_hidden_state[0, -1].numpy() for t in texts]
    np.testing.assert_allclose(got, np.stack(alone), atol=1e-4)


def _write(path, ids, vectors) -> None:
    pq.write_table(pa.table({"item_id": ids, "vector": vectors}), str(path))


def test_precomputed_vectors_are_aligned_checked_and_fingerprinted_by_content(tmp_path):
    _write(tmp_path / "shop.parquet", ["b", "a", "extra"], [[0.0, 2.0], [3.0, 4.0], [1.0, 1.0]])
    ids, matrix, key = read_vectors(str(tmp_path), "shop", ["a", "b"], normalize=True)
    assert ids == ["a", "b"]
    np.testing.assert_allclose(matrix, [[0.6, 0.8], [0.0, 1.0]])
    _, _, same = read_vectors(str(tmp_path), "shop", ["a", "b"], normalize=True)
    _write(tmp_path / "shop.parquet", ["b", "a", "extra"], [[0.0, 2.0], [3.0, 5.0], [1.0, 1.0]])
    _, _, changed = read_vectors(str(tmp_path), "shop", ["a", "b"], normalize=True)
    assert key == same != changed


def test_precomputed_vectors_of_varying_dimension_are_refused(tmp_path):
    _write(tmp_path / "shop.parquet", ["a", "b"], [[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(DataError, match=r"shop.parquet: vector dimension varies \(2 to 3; item 'b' has 3"):
        read_vectors(str(tmp_path), "shop", ["a", "b"])
    with pytest.raises(DataError, match=r"no precomputed vectors for dataset 'games'"):
        read_vectors(str(tmp_path), "games", ["a"])
