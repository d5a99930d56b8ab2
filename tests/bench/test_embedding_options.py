"""``gre-ray bench``'s embedding options: the command line's dtype, backend, pooling, token
limit and key variable reach the model; one normalisation rule for every kind of model;
vectors whose ids do not match the dataset's items are one line with both counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.bench.config import EmbeddingModel
from gre_ray.commands.bench_run import resolve_model
from gre_ray.embed.config import Backend, DType, EncoderConfig, EndpointConfig
from gre_ray.embed.pooling import Pooling
from gre_ray.embed.precomputed import read_vectors
from gre_ray.errors import DataError
from gre_ray.root_config import load_config


def test_the_command_lines_encoder_options_reach_every_model(monkeypatch):
    import gre_ray.commands.bench as command
    from gre_ray.cli import build_parser

    seen = {}
    monkeypatch.setattr(command, "bench", lambda config, models, **kw: seen.update(kw) or _Printed())
    argv = ["bench", "http://127.0.0.1:9/v1#org/qwen-embed", "--config", "configs/demo.smoke.yaml", "--dtype",
            "float16", "--backend", "sentence_transformers", "--pooling", "last_token", "--max-tokens", "512",
            "--api-key-env", "QWEN_KEY"]
    args = build_parser().parse_args(argv)
    assert args.handler(args) == 0  # the command itself: the CLI's process-wide logging set-up stays out
    assert seen["encoder"]["dtype"] == "float16" and seen["encoder"]["max_length"] == 512
    assert seen["api_key_env"] == "QWEN_KEY"
    model = resolve_model("http://127.0.0.1:9/v1#org/qwen-embed", [], seen["encoder"], seen["api_key_env"])
    assert model.endpoint.api_key_env == "QWEN_KEY"
    assert (model.encoder.dtype, model.encoder.backend, model.encoder.pooling, model.encoder.max_length) == (
        DType.FLOAT16, Backend.SENTENCE_TRANSFORMERS, Pooling.LAST_TOKEN, 512)
    known = resolve_model("minilm", load_config("configs/demo.yaml").benchmark.embeddings, {"dtype": "bfloat16"})
    assert known.name == "minilm" and known.encoder.dtype is DType.BFLOAT16


class _Printed:
    lines: list[str] = []


def test_every_kind_is_normalised_unless_stated_otherwise():
    kinds = [EmbeddingModel(name="hub", encoder=EncoderConfig(model="org/m")),
             EmbeddingModel(name="vec", vectors="/tmp/v"),
             EmbeddingModel(name="api", endpoint=EndpointConfig(url="http://127.0.0.1:9/v1", model="m")),
             EmbeddingModel(name="art", artifact="model")]
    assert all(k.encoder.normalize is True for k in kinds)
    assert EmbeddingModel(name="raw", vectors="/tmp/v", encoder=EncoderConfig(normalize=False)).encoder.normalize is False
    assert resolve_model("vectors:/tmp/v", []).encoder.normalize is True


def test_vectors_whose_ids_do_not_match_are_one_line_with_both_counts(tmp_path):
    ids = ["a", "b", "x", "y", "z"]
    pq.write_table(pa.table({"item_id": ids, "vector": list(np.eye(5, dtype=np.float32))}), tmp_path / "shop.parquet")
    with pytest.raises(DataError, match=r"shop.parquet: 2 of 4 items of dataset 'shop' have no vector, e\.g\. 'c', "
                                        r"'d'; 3 of the file's 5 ids are not items of the dataset, e\.g\. 'x'"):
        read_vectors(str(tmp_path), "shop", ["a", "b", "c", "d"])
    _, matrix, key = read_vectors(str(tmp_path), "shop", ["a", "b"], dim=2, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0)
    assert key != read_vectors(str(tmp_path), "shop", ["a", "b"], dim=2, normalize=False)[2]


def test_the_bench_lines_mark_items_sent_as_the_placeholder(tmp_path):
    import json

    from gre_ray.commands.bench_run import placeholder_lines

    entry = tmp_path / "cache" / "api-1"
    (entry / "embeddings").mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps({"key": "api-1", "placeholder_items": 3}))
    specs = [{"embedding": "qwen", "dataset": "Arts", "embedding_path": f"file://{entry / 'embeddings'}"}] * 2
    specs += [{"embedding": "id", "dataset": "Arts", "embedding_path": ""}]
    assert placeholder_lines(specs) == ["qwen: 3 item(s) without text embedded as the endpoint's placeholder (Arts 3)"]
