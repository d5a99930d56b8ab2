"""The encoder against Sentence-Transformers, its saved folder, and its errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gre_ray.embed.config import Device, DType, EmbedConfig, EncoderConfig
from gre_ray.embed.encoder import Encoder, resolve_spec
from gre_ray.embed.job import check_settings
from gre_ray.embed.pooling import Pooling
from gre_ray.errors import ConfigError
from tests.embed.conftest import mixed_texts


def test_minilm_matches_sentence_transformers(minilm_encoder, minilm_path):
    from sentence_transformers import SentenceTransformer

    texts = mixed_texts(24, max_words=300)
    ours = minilm_encoder.encode(texts)
    theirs = SentenceTransformer(minilm_path, device="cpu").encode(texts, convert_to_numpy=True)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() > 0.9999
    assert minilm_encoder.spec.pooling is Pooling.MEAN and minilm_encoder.spec.normalize
    assert minilm_encoder.spec.max_length == 256  # from sentence_bert_config.json


def test_batching_does_not_change_vectors(tiny_encoder):
    texts = mixed_texts(30, max_words=200)
    one_by_one = np.vstack([tiny_encoder.encode([t]) for t in texts])
    budgeted = tiny_encoder.encode(texts, token_budget=300, max_batch_rows=7)
    unsorted = tiny_encoder.encode_with_stats(texts, token_budget=10**6, max_batch_rows=8, sort=False).vectors
    np.testing.assert_allclose(budgeted, one_by_one, atol=1e-5)
    np.testing.assert_allclose(unsorted, one_by_one, atol=1e-5)


def test_empty_and_truncated_texts_are_counted(tiny_encoder):
    texts = ["", "   ", "short text", "word " * 500]
    encoded = tiny_encoder.with_spec(max_length=16).encode_with_stats(texts)
    assert encoded.empty.tolist() == [True, True, False, False]
    assert encoded.truncated.tolist() == [False, False, False, True]
    assert encoded.n_tokens.tolist() == [2, 2, 4, 16]  # [CLS] [SEP] for the empty texts
    np.testing.assert_array_equal(encoded.vectors[0], encoded.vectors[1])
    assert np.isfinite(encoded.vectors).all()


def test_prefix_is_prepended(tiny_encoder):
    with_prefix = tiny_encoder.with_spec(prefix="passage: ").encode(["a tent"])
    np.testing.assert_allclose(with_prefix, tiny_encoder.encode(["passage: a tent"]), atol=1e-6)


def test_saved_folder_loads_in_automodel_and_sentence_transformers(tiny_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    encoder = tiny_encoder.with_spec(pooling=Pooling.CLS, normalize=True, max_length=64, prefix="query: ")
    folder = tmp_path / "saved"
    encoder.save(folder)
    texts = mixed_texts(12)
    ours = encoder.encode(texts)

    reloaded = Encoder.load(folder)
    assert (reloaded.spec.pooling, reloaded.spec.normalize, reloaded.spec.max_length, reloaded.spec.prefix) == (
        Pooling.CLS, True, 64, "query: ")
    np.testing.assert_allclose(reloaded.encode(texts), ours, atol=1e-6)

    st = SentenceTransformer(str(folder), device="cpu")
    assert st.max_seq_length == 64
    np.testing.assert_allclose(st.encode(texts, convert_to_numpy=True), ours, atol=1e-5)

    model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        inputs = tokenizer("query: " + texts[0], truncation=True, max_length=64, return_tensors="pt")
        cls = model(**inputs).last_hidden_state[0, 0]
    np.testing.assert_allclose(torch.nn.functional.normalize(cls, dim=0).numpy(), ours[0], atol=1e-5)


def test_missing_model_folder(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        resolve_spec(EncoderConfig(model=str(tmp_path / "nope")))


def test_folder_without_config_json(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_spec(EncoderConfig(model=str(tmp_path)))


def test_seq2seq_model_is_rejected(tiny_bert_path, tmp_path):
    folder = tmp_path / "t5"
    shutil.copytree(tiny_bert_path, folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "t5", "is_encoder_decoder": True}))
    with pytest.raises(ConfigError, match="encoder-decoder"):
        resolve_spec(EncoderConfig(model=str(folder)))


def test_hub_id_not_cached_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="Hugging Face Hub could not provide it"):
        resolve_spec(EncoderConfig(model="no-such-org/no-such-model-xyz"))


def test_max_length_beyond_the_model(tiny_bert_path):
    with pytest.raises(ConfigError, match="exceeds the model's limit of 128"):
        resolve_spec(EncoderConfig(model=tiny_bert_path, max_length=1024))


def test_half_precision_on_cpu_is_refused(tiny_bert_path):
    with pytest.raises(ConfigError, match="needs a GPU"):
        Encoder.from_config(EncoderConfig(model=tiny_bert_path, dtype=DType.FLOAT16, device=Device.CPU))
    with pytest.raises(ConfigError, match="set embed.num_gpus > 0"):
        check_settings(EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path, dtype=DType.FLOAT16)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_gpu_close_to_fp32(minilm_path, minilm_encoder):
    texts = mixed_texts(64, max_words=200)
    gpu = Encoder.from_config(EncoderConfig(model=minilm_path, dtype=DType.BFLOAT16, device=Device.CUDA))
    half, full = gpu.encode(texts), minilm_encoder.encode(texts)
    assert half.dtype == np.float32
    assert ((half * full).sum(1)).min() > 0.99
