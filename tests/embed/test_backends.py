"""Encoder backends: OpenVINO against the torch encoder, bf16 on CPU, the cache key, refusals."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from gre_ray.embed import encoder as encoder_module
from gre_ray.embed import openvino_encoder
from gre_ray.embed.cache import cache_key
from gre_ray.embed.config import Backend, Device, DType, EmbedConfig, EncoderConfig
from gre_ray.embed.encoder import Encoder, native_bf16, resolve_spec
from gre_ray.embed.job import check_settings
from gre_ray.embed.pooling import Pooling
from gre_ray.errors import ConfigError
from tests.embed.conftest import mixed_texts


@pytest.fixture(autouse=True)
def graph_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(openvino_encoder.CACHE_ENV, str(tmp_path / "ov"))
    return tmp_path / "ov"


@pytest.mark.parametrize("pooling", list(Pooling))
def test_openvino_float32_gives_the_torch_vectors(tiny_bert_path, pooling):
    texts = mixed_texts(40, max_words=150)
    torch_vectors = Encoder.from_config(EncoderConfig(model=tiny_bert_path, pooling=pooling)).encode(texts, token_budget=512)
    ov = Encoder.from_config(EncoderConfig(model=tiny_bert_path, pooling=pooling, backend="openvino"))
    assert type(ov).__name__ == "OpenVinoEncoder" and ov.dim == 32
    np.testing.assert_allclose(ov.encode(texts, token_budget=512), torch_vectors, atol=2e-5)


def test_openvino_converts_once_per_node(tiny_bert_path, graph_cache, monkeypatch):
    config = EncoderConfig(model=tiny_bert_path, backend="openvino")
    first = Encoder.from_config(config).encode(["a warm tent", "boots"])

    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(openvino_encoder, "_convert", fail)
    again = Encoder.from_config(config).encode(["a warm tent", "boots"])
    np.testing.assert_array_equal(first, again)
    assert [p.name for p in graph_cache.iterdir() if p.is_dir()] == [
        p.name for p in graph_cache.iterdir() if p.is_dir() and (p / "model.xml").is_file()
    ]


@pytest.mark.skipif(not native_bf16(), reason="needs a CPU with native bf16")
@pytest.mark.parametrize("backend", ["transformers", "openvino"])
def test_bfloat16_on_a_native_bf16_cpu_is_close_to_float32(minilm_encoder, minilm_path, backend):
    texts = mixed_texts(32, max_words=120)
    half = Encoder.from_config(EncoderConfig(model=minilm_path, dtype=DType.BFLOAT16, backend=backend, device=Device.CPU))
    cosine = (half.encode(texts) * minilm_encoder.encode(texts)).sum(1)
    assert cosine.min() > 0.99
    check_settings(EmbedConfig(encoder=EncoderConfig(model=minilm_path, dtype=DType.BFLOAT16, backend=backend)))


def test_bfloat16_refused_on_a_cpu_without_native_bf16(tiny_bert_path, monkeypatch):
    monkeypatch.setattr(encoder_module, "native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="native bf16"):
        Encoder.from_config(EncoderConfig(model=tiny_bert_path, dtype=DType.BFLOAT16, device=Device.CPU))
    monkeypatch.setattr("gre_ray.embed.job.native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="set embed.num_gpus > 0"):
        check_settings(EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path, dtype=DType.BFLOAT16)))


def test_backend_and_dtype_enter_the_cache_key(tiny_bert_path):
    default = resolve_spec(EncoderConfig(model=tiny_bert_path))
    assert default.backend is Backend.TRANSFORMERS and "backend" not in default.key_fields()  # old keys stay valid
    specs = [default, resolve_spec(EncoderConfig(model=tiny_bert_path, backend="openvino")),
             resolve_spec(EncoderConfig(model=tiny_bert_path, backend="openvino", dtype="bfloat16")),
             resolve_spec(EncoderConfig(model=tiny_bert_path, dtype="bfloat16"))]
    assert specs[1].key_fields()["backend"] == "openvino"
    assert len({cache_key(spec, "w", "t") for spec in specs}) == 4


def test_openvino_refusals(tiny_bert_path, tmp_path):
    with pytest.raises(ConfigError, match="openvino runs on CPUs"):
        check_settings(EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path, backend="openvino"), num_gpus=1))
    with pytest.raises(ConfigError, match="runs on CPU with dtype float32 or bfloat16"):
        Encoder.from_config(EncoderConfig(model=tiny_bert_path, backend="openvino", device=Device.CUDA))
    with pytest.raises(ConfigError, match="runs on CPU with dtype float32 or bfloat16"):
        Encoder.from_config(EncoderConfig(model=tiny_bert_path, backend="openvino", dtype="float16"))
    with pytest.raises(ConfigError, match="load with backend transformers to save"):
        Encoder.from_config(EncoderConfig(model=tiny_bert_path, backend="openvino")).save(tmp_path / "saved")


def test_cli_backend_flag(tiny_bert_path):
    from gre_ray.commands.embed import add_parser, settings_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["embed", "--items", "x", "--out", "y", "--model", tiny_bert_path,
                              "--backend", "openvino", "--dtype", "bfloat16"])
    settings = settings_from_args(args)
    assert settings.encoder.backend is Backend.OPENVINO and settings.encoder.dtype is DType.BFLOAT16
    default = settings_from_args(parser.parse_args(["embed", "--items", "x", "--out", "y"]))
    assert default.encoder.backend is Backend.AUTO and default.encoder.dtype is DType.FLOAT32
    with pytest.raises(SystemExit):
        parser.parse_args(["embed", "--items", "x", "--out", "y", "--backend", "onnx"])


def test_ray_stage_with_openvino_equals_the_plain_encoder(ray_session, tiny_bert_path, tmp_path):
    from gre_ray.wiring.embed_pipeline import embed_items
    from gre_ray.embed.vectors import read_embeddings
    from tests.embed.conftest import items_table

    texts = mixed_texts(40, max_words=150)
    table = items_table(texts)
    settings = EmbedConfig(actors=2, rows_per_call=16)
    default = embed_items(table, EncoderConfig(model=tiny_bert_path), tmp_path / "cache", settings)
    ov = embed_items(table, EncoderConfig(model=tiny_bert_path, backend="openvino"), tmp_path / "cache", settings)
    assert ov.parent.name != default.parent.name  # its own cache entry
    ids, matrix = read_embeddings(ov)
    order = np.argsort(ids)
    plain = Encoder.from_config(EncoderConfig(model=tiny_bert_path)).encode(texts)
    np.testing.assert_allclose(matrix[order], plain, atol=2e-5)
