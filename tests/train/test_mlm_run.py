"""Continued MLM pre-training in process, then contrastive fine-tuning of its backbone (plain DDP path)."""

from __future__ import annotations

from gre_ray.config.loader import build
from gre_ray.stages.contrastive import ContrastiveStage
from gre_ray.stages.mlm import MLMStage
from gre_ray.train.config import MLMConfig
from tests.train.data import contrastive_settings, corpus_table, planted_pairs, run_stage, write_parquet


def test_mlm_lowers_heldout_loss_and_its_backbone_feeds_contrastive(ray_session, tiny_bert_path, tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM

    corpus = write_parquet(corpus_table(), tmp_path / "corpus")
    settings = build(
        MLMConfig,
        {
            "model": tiny_bert_path,
            "max_length": 32,
            "scaling": {"num_workers": 0},
            "deepspeed": {"zero_stage": 2},
            "optim": {"lr": 5e-3, "activation_checkpointing": True},
            "loop": {"epochs": 2, "batch_size": 16, "heldout_fraction": 0.2},
        },
    )
    mlm = run_stage(MLMStage(), settings, {"corpus": corpus}, tmp_path / "mlm")
    history = mlm.stats["history"]
    assert history[-1]["heldout_loss"] < mlm.stats["initial_metrics"]["heldout_loss"] - 0.5
    backbone = mlm.out("backbone").path
    assert AutoModelForMaskedLM.from_pretrained(backbone).config.hidden_size == 32
    assert "randomly initialised head" in open(f"{backbone}/README.md", encoding="utf-8").read()

    pairs = write_parquet(planted_pairs(), tmp_path / "pairs")
    fine = contrastive_settings(tiny_bert_path, deepspeed={"enabled": False}, loss="infonce", loop={"epochs": 1})
    ctx = run_stage(ContrastiveStage(), fine, {"pairs": pairs, "backbone": backbone}, tmp_path / "contrastive")
    assert ctx.stats["history"][0]["train_loss"] > 0
    tuned = AutoModel.from_pretrained(ctx.out("model").path)
    base = AutoModel.from_pretrained(backbone)
    word = "embeddings.word_embeddings.weight"
    assert not (tuned.state_dict()[word] == base.state_dict()[word]).all()  # fine-tuning moved the weights
    assert f"`file://{backbone}`" in open(f"{ctx.out('model').path}/README.md", encoding="utf-8").read()  # base: the backbone
