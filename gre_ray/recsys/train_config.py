"""The training settings shared by the four recommenders, without torch.

The training loop (:mod:`gre_ray.recsys.train`) reads them; they live here so a run
config (``benchmark.train``) loads without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gre_ray.config.loader import coerce_fields
from gre_ray.errors import ConfigError
from gre_ray.recsys.metric_table import Ties


class TrainPositions(str, Enum):
    LAST = "last"
    ALL = "all"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, selection and evaluation settings shared by all models.

    Attributes:
        lr: Adam learning rate.
        weight_decay: Adam L2 penalty.
        batch_size: users per batch (retrieval) or samples per batch (ranking).
        max_epochs: the training budget.
        patience: epochs without validation improvement before stopping.
        min_delta: the smallest improvement that resets patience.
        metric: validation metric to select on; None picks ndcg@10 / auc by task.
        seed: torch and numpy seed.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        grad_clip: max gradient norm (None: no clipping).
        eval_user_chunk: users scored at once in full ranking.
        eval_item_chunk: items scored at once in full ranking.
        eval_batch_size: samples scored at once (ranking).
        ties: tie rule of full ranking.
        positions: retrieval targets trained per epoch: ``last`` (each user's last
            ``max_len`` targets, SASRec's original sampler) or ``all`` (every training
            target, see :mod:`gre_ray.recsys.batches`).
        train_stride: step between training windows with ``all`` (None: ``max_len``;
            1: every target with its own prefix).
        mask_history: full ranking leaves the user's earlier items out (validation and
            test alike); False ranks them too (RecBole's protocol for sequential models).
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 5
    min_delta: float = 0.0
    metric: str | None = None
    seed: int = 0
    device: str = "cpu"
    grad_clip: float | None = None
    eval_user_chunk: int = 1024
    eval_item_chunk: int = 65536
    eval_batch_size: int = 4096
    ties: Ties = Ties.PESSIMISTIC
    positions: TrainPositions = TrainPositions.LAST
    train_stride: int | None = None
    mask_history: bool = True

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.train_stride is not None and self.train_stride < 1:
            raise ConfigError(f"train.train_stride must be >= 1, got {self.train_stride}")
        for key in (
            "batch_size",
            "max_epochs",
            "patience",
            "eval_user_chunk",
            "eval_item_chunk",
            "eval_batch_size",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")
