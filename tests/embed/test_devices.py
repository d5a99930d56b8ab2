"""The encoder's device defaults: a pure function of the device and its bf16 capability; an
unset dtype keys CPU jobs exactly as float32 did and GPU jobs as ``auto``."""

from __future__ import annotations

from dataclasses import replace

from gre_ray.embed.config import DType, EmbedConfig, EncoderConfig
from gre_ray.embed.devices import CPU_TOKEN_BUDGET, GPU_TOKEN_BUDGET, device_defaults, settled_dtype
from gre_ray.embed.job import check_settings


def test_gpu_defaults_are_bf16_where_the_gpu_has_it_else_fp16_with_a_gpu_token_budget():
    assert device_defaults("cpu") == device_defaults("cpu", bf16=True)
    assert (device_defaults("cpu").dtype, device_defaults("cpu").token_budget) == (DType.FLOAT32, CPU_TOKEN_BUDGET)
    assert (device_defaults("cuda", bf16=True).dtype, device_defaults("cuda", bf16=True).token_budget) == (
        DType.BFLOAT16, GPU_TOKEN_BUDGET)
    assert device_defaults("cuda", bf16=False).dtype is DType.FLOAT16
    assert GPU_TOKEN_BUDGET > CPU_TOKEN_BUDGET
    assert settled_dtype(DType.AUTO, "cpu") is DType.FLOAT32 and settled_dtype(DType.FLOAT16, "cpu") is DType.FLOAT16


def test_an_unset_dtype_keys_cpu_jobs_as_float32_and_gpu_jobs_as_auto(minilm_path):
    unset = EncoderConfig(model=minilm_path)
    assert unset.dtype is DType.AUTO
    cpu = check_settings(EmbedConfig(encoder=unset))
    assert cpu.key_fields() == check_settings(EmbedConfig(encoder=replace(unset, dtype="float32"))).key_fields()
    assert check_settings(EmbedConfig(encoder=unset, num_gpus=1)).key_fields()["dtype"] == "auto"
    assert EmbedConfig().token_budget is None  # the device's default, set where the actor learns its device


def test_a_cpu_actor_takes_the_cpu_defaults(minilm_path):
    from gre_ray.embed.inference import EmbedBatch

    batch = EmbedBatch(EncoderConfig(model=minilm_path), None, 64)
    assert batch.token_budget == CPU_TOKEN_BUDGET and batch.encoder.spec.dtype is DType.FLOAT32
    assert EmbedBatch(EncoderConfig(model=minilm_path), 512, 64).token_budget == 512
