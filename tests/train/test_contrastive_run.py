"""Contrastive fine-tuning end to end on tiny data: learning, export, resume, the gist path."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gre_ray.embed.encoder import Encoder
from gre_ray.stages.contrastive import ContrastiveStage
from gre_ray.train.config import Pooling
from gre_ray.train.heldout import recall_at_k, retrieval_task
from gre_ray.train.pooling import TextEncoder, embed_texts
from gre_ray.train.rows import split_pairs
from tests.train.data import contrastive_settings, planted_pairs, run_stage, write_parquet


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> str:
    """Planted pairs; every 10th has no mined negative (dropped from training, still evaluated)."""
    table = planted_pairs()
    empty = [[] if i % 10 == 0 else n for i, n in enumerate(table.column("neg_texts").to_pylist())]
    empty_ids = [[] if i % 10 == 0 else n for i, n in enumerate(table.column("neg_item_ids").to_pylist())]
    table = table.set_column(table.schema.get_field_index("neg_texts"), "neg_texts", pa.array(empty, pa.list_(pa.string())))
    table = table.set_column(table.schema.get_field_index("neg_item_ids"), "neg_item_ids", pa.array(empty_ids, pa.list_(pa.string())))
    return write_parquet(table, tmp_path_factory.mktemp("pairs") / "pairs")


@pytest.fixture(scope="module")
def in_process_run(ray_session, tiny_bert_path, pairs_dir, tmp_path_factory):
    """3 epochs in the driver process (ScalingConfig(num_workers=0)) with DeepSpeed ZeRO-1."""
    root = tmp_path_factory.mktemp("run")
    ctx = run_stage(ContrastiveStage(), contrastive_settings(tiny_bert_path), {"pairs": pairs_dir}, root)
    return ctx, root


def test_training_lowers_loss_and_raises_heldout_recall(in_process_run):
    ctx, _ = in_process_run
    assert 10 < ctx.quarantined["fewer than 1 hard negatives"] <= 22  # training rows among the 22 without
    history = ctx.stats["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = max(h["recall_at_k"] for h in history)
    assert best > ctx.stats["initial_metrics"]["recall_at_k"] + 0.2
    assert ctx.stats["best_epoch"] == 1 + [h["recall_at_k"] for h in history].index(best)
    assert not (ctx.run_root / "_train").children()  # checkpoints removed after export by default


def test_exported_folder_loads_in_both_libraries_and_embeds_like_the_trained_model(in_process_run, pairs_dir):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    ctx, _ = in_process_run
    folder = ctx.out("model").path
    settings = ctx.settings
    st = SentenceTransformer(folder, device="cpu")
    encoder = TextEncoder(AutoModel.from_pretrained(folder), Pooling.MEAN).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)

    table = pq.read_table(pairs_dir)
    split = split_pairs(table, settings.loop.heldout_fraction, settings.loop.seed, settings.hard_negatives)
    held = table.filter(pa.array(split.heldout))
    texts = held.column("text_a").to_pylist()[:8]
    ours = embed_texts(encoder, tokenizer, texts, settings.max_length)
    theirs = torch.tensor(st.encode(texts, batch_size=8))
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-4)
    embed_stage = torch.tensor(Encoder.load(folder).encode(texts))  # the embed stage reads the folder alike
    torch.testing.assert_close(embed_stage, ours, atol=1e-5, rtol=1e-4)

    # The exported model reproduces the best epoch's held-out Recall@K.
    items_a, items_b = held.column("item_a").to_pylist(), held.column("item_b").to_pylist()
    text = dict(zip(items_a, held.column("text_a").to_pylist())) | dict(zip(items_b, held.column("text_b").to_pylist()))
    queries, corpus, relevant = retrieval_task(items_a, items_b)
    q = torch.tensor(st.encode([text[x] for x in queries]))
    c = torch.tensor(st.encode([text[x] for x in corpus]))
    where = {x: i for i, x in enumerate(corpus)}
    recall = recall_at_k(q, c, relevant, settings.recall_k, exclude=[where.get(x) for x in queries])
    best = ctx.stats["history"][ctx.stats["best_epoch"] - 1]["recall_at_k"]
    assert recall == pytest.approx(best, abs=1e-6)

    card = open(f"{folder}/README.md", encoding="utf-8").read()
    assert "GTE improved contrastive loss" in card and "Base model" in card and "recall_at_k" in card
    pooling = json.load(open(f"{folder}/1_Pooling/config.json"))
    assert pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True


def test_explicit_resume_from_a_run_folder_with_the_gist_loss(ray_session, tiny_bert_path, pairs_dir, tmp_path):
    first = contrastive_settings(tiny_bert_path, loss="gist", loop={"epochs": 1, "keep_checkpoints": True})
    ctx1 = run_stage(ContrastiveStage(), first, {"pairs": pairs_dir}, tmp_path / "a")
    run_folder = ctx1.stats["train_run"]
    second = contrastive_settings(tiny_bert_path, loss="gist", loop={"epochs": 2, "resume_from": run_folder})
    ctx2 = run_stage(ContrastiveStage(), second, {"pairs": pairs_dir}, tmp_path / "b")
    history = ctx2.stats["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0] == ctx1.stats["history"][0]  # epoch 1 restored, not retrained
    assert ctx2.stats["initial_metrics"] == ctx1.stats["initial_metrics"]


def test_zero3_checkpoint_holds_consolidated_weights(ray_session, tiny_bert_path, pairs_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModel

    settings = contrastive_settings(tiny_bert_path, deepspeed={"zero_stage": 3}, loop={"epochs": 1, "max_steps_per_epoch": 2})
    ctx = run_stage(ContrastiveStage(), settings, {"pairs": pairs_dir}, tmp_path)
    folder = ctx.out("model").path
    weights = load_file(f"{folder}/model.safetensors")
    reference = AutoModel.from_pretrained(tiny_bert_path, add_pooling_layer=False).state_dict()
    assert {k: tuple(v.shape) for k, v in weights.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert weights["embeddings.word_embeddings.weight"].abs().sum() > 0  # gathered, not ZeRO-3's empty placeholders
