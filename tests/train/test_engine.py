"""The optimiser pieces: warm-up/decay schedule, weight-decay groups, activation checkpointing, DeepSpeed config."""

from __future__ import annotations

import pytest
import torch

from gre_ray.config.loader import build
from gre_ray.train.config import ContrastiveConfig
from gre_ray.train.engine import build_optimizer, deepspeed_config, linear_schedule
from gre_ray.train.tasks.base import enable_activation_checkpointing


def test_linear_warmup_then_decay_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, warmup_steps=4, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[5:] == pytest.approx([5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert sched.get_last_lr()[0] == 0.0


def test_no_weight_decay_on_biases_and_norms(tiny_bert_path):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_path)
    decay, no_decay = build_optimizer(model, 1e-3, 0.01).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith(("bias", "LayerNorm.weight")) for p in no_decay["params"])
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_activation_checkpointing_keeps_the_gradients(tiny_bert_path):
    from transformers import AutoModel

    ids = torch.randint(1000, 2000, (2, 12))
    grads = []
    for checkpointing in (False, True):
        model = AutoModel.from_pretrained(tiny_bert_path).train()
        torch.manual_seed(0)  # the same dropout masks
        if checkpointing:
            enable_activation_checkpointing(model)
        model(input_ids=ids).last_hidden_state.pow(2).mean().backward()
        grads.append(model.embeddings.word_embeddings.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_deepspeed_config_follows_settings():
    settings = build(
        ContrastiveConfig,
        {"deepspeed": {"zero_stage": 3}, "optim": {"grad_accumulation": 4, "grad_clip": 0.5}, "loop": {"batch_size": 8}},
    )
    config = deepspeed_config(settings)
    assert config["zero_optimization"] == {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True}
    assert config["train_micro_batch_size_per_gpu"] == 8 and config["gradient_accumulation_steps"] == 4
    assert config["gradient_clipping"] == 0.5 and not config["bf16"]["enabled"] and "optimizer" not in config


def test_deepspeed_on_cpu_compiles_no_inference_comm_op(tmp_path, monkeypatch):
    """DeepSpeed starts on CPU without JIT-building its shm all-reduce op, and still trains."""
    from deepspeed.comm import comm
    from torch import nn

    from gre_ray.train.engine import SHM_COMM_OP, Engine

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    settings = build(ContrastiveConfig, {"deepspeed": {"zero_stage": 1}, "optim": {"warmup_ratio": 0.0}})
    torch.manual_seed(0)
    engine = Engine(nn.Linear(3, 2), settings, total_steps=4, device=torch.device("cpu"))
    assert comm.cdb.shm_comm_op is None
    assert not list(tmp_path.glob(f"ext/**/{SHM_COMM_OP}*"))
    before = engine.module.weight.detach().clone()
    engine.train()
    loss = engine(torch.ones(4, 3)).pow(2).sum()
    engine.backward(loss)
    engine.step()
    assert not torch.equal(before, engine.module.weight.detach())
