"""The encoder's defaults on the device it runs on: dtype and token budget.

An unset ``encoder.dtype`` (``auto``) and an unset ``embed.token_budget`` take the defaults
of the device the encoder lands on, which only the process holding it knows (a Ray actor
learns its GPU from the wiring, :mod:`gre_ray.wiring.accelerator`):

* CPU: float32 and 4,096 padded tokens per forward pass (16 rows of 256 tokens; half
  precision is slower or unsupported on most CPUs);
* GPU with bf16 (compute capability 8.0 and up: A10G, L4, A100, H100): bfloat16 and 65,536
  tokens, so a 7-8 B decoder embedder fits a 24 GB GPU (about 15 GB of weights instead of 30);
* older GPUs (V100, T4): float16, the half precision they compute, and 65,536 tokens.

:func:`device_defaults` is a pure function of the device's kind and capability, so the
choice is testable without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from gre_ray.embed.config import DType

CPU_TOKEN_BUDGET = 4096
GPU_TOKEN_BUDGET = 65536


@dataclass(frozen=True)
class DeviceDefaults:
    """What an encoder on one device uses when the config leaves it unset."""

    dtype: DType
    token_budget: int


def device_defaults(kind: str, bf16: bool = False) -> DeviceDefaults:
    """The defaults on a device of ``kind`` (``cpu`` or ``cuda``); ``bf16``: the GPU computes bfloat16."""
    if kind == "cuda":
        return DeviceDefaults(DType.BFLOAT16 if bf16 else DType.FLOAT16, GPU_TOKEN_BUDGET)
    return DeviceDefaults(DType.FLOAT32, CPU_TOKEN_BUDGET)


def cuda_bf16() -> bool:
    """Whether this process's CUDA device computes bfloat16 (False without one)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def settled_dtype(dtype: DType, kind: str) -> DType:
    """``dtype``, with ``auto`` replaced by the default of the device of ``kind`` this process holds."""
    if dtype is not DType.AUTO:
        return dtype
    return device_defaults(kind, cuda_bf16() if kind == "cuda" else False).dtype
