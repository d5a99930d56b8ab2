"""Unusable input fails with one clear ConfigError or DataError before any worker starts."""

from __future__ import annotations

import pyarrow as pa
import pytest

from gre_ray.config.loader import build
from gre_ray.data.schema import PAIRS_SCHEMA
from gre_ray.errors import ConfigError, DataError
from gre_ray.root_config import load_config
from gre_ray.stages.contrastive import ContrastiveStage
from gre_ray.stages.mlm import MLMStage
from gre_ray.train.config import MLMConfig
from tests.train.data import contrastive_settings, planted_pairs, run_stage, write_parquet


@pytest.fixture(scope="module")
def pairs() -> pa.Table:
    return planted_pairs(domains=["outdoor"])


def test_empty_pairs(tiny_bert_path, tmp_path):
    path = write_parquet(PAIRS_SCHEMA.empty_table(), tmp_path / "pairs")
    with pytest.raises(DataError, match="no rows"):
        run_stage(ContrastiveStage(), contrastive_settings(tiny_bert_path), {"pairs": path}, tmp_path)


def test_pairs_without_texts(tiny_bert_path, tmp_path, pairs):
    texts = pairs.column("text_b").to_pylist()
    texts[3] = "   "
    broken = pairs.set_column(pairs.schema.get_field_index("text_b"), "text_b", pa.array(texts))
    path = write_parquet(broken, tmp_path / "pairs")
    with pytest.raises(DataError, match=r"1 pair\(s\) have no text_b"):
        run_stage(ContrastiveStage(), contrastive_settings(tiny_bert_path), {"pairs": path}, tmp_path)


def test_null_texts_break_the_contract(tiny_bert_path, tmp_path, pairs):
    broken = pairs.set_column(
        pairs.schema.get_field_index("text_a"), pa.field("text_a", pa.string()), pa.array([None] * pairs.num_rows, pa.string())
    )
    path = write_parquet(broken, tmp_path / "pairs")
    with pytest.raises(DataError, match="text_a"):
        run_stage(ContrastiveStage(), contrastive_settings(tiny_bert_path), {"pairs": path}, tmp_path)


def test_a_backbone_that_is_not_an_encoder(tmp_path, pairs):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=16, n_head=2).save_pretrained(tmp_path / "gpt2")
    path = write_parquet(pairs, tmp_path / "pairs")
    with pytest.raises(ConfigError, match="not a masked-language encoder"):
        run_stage(ContrastiveStage(), contrastive_settings(str(tmp_path / "gpt2")), {"pairs": path}, tmp_path)
    with pytest.raises(ConfigError, match="contrastive.model: .*no such folder"):
        run_stage(ContrastiveStage(), contrastive_settings(str(tmp_path / "nothing")), {"pairs": path}, tmp_path)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_cpu_is_a_config_error(precision):
    with pytest.raises(ConfigError, match=f"contrastive: deepspeed.precision {precision} needs GPUs"):
        load_config(None, [f"contrastive.deepspeed.precision={precision}"])
    with pytest.raises(ConfigError, match="needs GPUs"):
        build(MLMConfig, {"deepspeed": {"precision": precision}})
    assert load_config(None, [f"contrastive.deepspeed.precision={precision}", "contrastive.scaling.use_gpu=true"])


def test_more_workers_than_cpus(ray_session, tiny_bert_path, tmp_path, pairs):
    path = write_parquet(pairs, tmp_path / "pairs")
    settings = contrastive_settings(tiny_bert_path, scaling={"num_workers": 3})
    with pytest.raises(ConfigError, match="3 workers x 1 CPU need 3 CPUs, but the Ray cluster has 2"):
        run_stage(ContrastiveStage(), settings, {"pairs": path}, tmp_path)
    assert not (tmp_path / "_train").exists()  # nothing started


def test_unknown_keys_and_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        load_config(None, ["contrastive.temprature=0.1"])
    with pytest.raises(ConfigError, match="zero_stage must be 0, 1, 2 or 3"):
        load_config(None, ["mlm.deepspeed.zero_stage=4"])
    with pytest.raises(ConfigError, match="loss: 'clip' is not one of infonce, gte, gist"):
        load_config(None, ["contrastive.loss=clip"])


def test_a_corpus_without_texts(tiny_bert_path, tmp_path):
    path = write_parquet(pa.table({"domain": ["d"], "item_id": ["i"]}), tmp_path / "corpus")
    with pytest.raises(DataError, match="missing column 'text' required by the corpus contract"):
        run_stage(MLMStage(), build(MLMConfig, {"model": tiny_bert_path}), {"corpus": path}, tmp_path)


def test_too_few_rows_for_one_global_batch(ray_session, tiny_bert_path, tmp_path, pairs):
    path = write_parquet(pairs.slice(0, 12), tmp_path / "pairs")
    settings = contrastive_settings(tiny_bert_path, loop={"heldout_fraction": 0.5})
    with pytest.raises(DataError, match="make no global batch"):
        run_stage(ContrastiveStage(), settings, {"pairs": path}, tmp_path)
