"""The contract between the training loop and what it trains (MLM or contrastive pairs).

The loop (:mod:`gre_ray.wiring.train_worker`) knows batches, engines, checkpoints and Ray; a
task knows its model, how rows become tensors, its loss, its held-out metrics and how
its weights are saved. Tasks are pure torch + transformers and never import Ray.
"""

from __future__ import annotations

import abc
from typing import Any, Literal

import pyarrow as pa
import torch
from torch import Tensor, nn

from gre_ray.errors import ConfigError


def check_encoder(model_path: str, what: str) -> Any:
    """Load the HF config of ``model_path`` and check it is a text encoder.

    Raises:
        ConfigError: the folder or name has no config, or the model is a decoder or an
            encoder-decoder (GRE embeds with a bidirectional encoder).
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what}: cannot load a Hugging Face model config from {model_path!r}: {exc}") from None
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        raise ConfigError(f"{what}: {model_path!r} ({config.model_type}) is not an encoder-only text model")
    from transformers import MODEL_FOR_MASKED_LM_MAPPING

    if type(config) not in MODEL_FOR_MASKED_LM_MAPPING:
        raise ConfigError(
            f"{what}: {model_path!r} has model type {config.model_type!r}, which is not a masked-language encoder "
            "(BERT, RoBERTa, MiniLM, ...)"
        )
    return config


class Task(abc.ABC):
    """What one training stage trains.

    Attributes:
        metric: held-out metric that selects the best epoch and drives early stopping.
        mode: ``max`` or ``min`` for ``metric``.
        model_fields: the attributes that name models. The driver sets them to names every
            node resolves (URI, Hub id, shipped name); each worker resolves them to folders
            on its own node (:meth:`gre_ray.train.worker_spec.WorkerSpec.task_on_node`).
    """

    metric: str
    mode: Literal["max", "min"]
    model_fields: tuple[str, ...] = ("model_path", "guide_path")

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """The trainable module (its forward takes the collated features)."""

    @abc.abstractmethod
    def collate(self, rows: pa.Table, rank: int) -> dict[str, Any]:
        """Tokenise a micro-batch of rows into tensors (runs inside the worker)."""

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: dict[str, Any]) -> Tensor:
        """Scalar loss of a micro-batch; ``model`` is the engine around :meth:`build_model`'s module."""

    @abc.abstractmethod
    def evaluate(self, model: nn.Module, heldout: pa.Table, device: torch.device) -> dict[str, float]:
        """Held-out metrics, including :attr:`metric`; every worker calls it on the same rows."""

    @abc.abstractmethod
    def save(self, module: nn.Module, state_dict: dict[str, Tensor], folder: str) -> None:
        """Write ``module`` with weights ``state_dict`` as a Hugging Face folder (rank 0 only)."""

    def setup(self, device: torch.device) -> None:
        """Load anything besides the trained model (a frozen guide), once per worker."""

    def start_epoch(self, epoch: int, rank: int) -> None:
        """Reset per-epoch random streams (called by every worker before each epoch)."""

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves on ``best``."""
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute activations in the backward pass (Chen et al. 2016) through the HF API.

    transformers 5 renamed ``gradient_checkpointing_enable`` to ``activation_checkpointing_enable``;
    the older name is used where the newer does not exist.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a (nested) batch to ``device``."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            out[key] = value.to(device)
        elif isinstance(value, dict):
            out[key] = to_device(value, device)
        else:
            out[key] = value
    return out
