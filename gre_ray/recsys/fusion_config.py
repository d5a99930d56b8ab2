"""The fusion settings of the recommenders (how text vectors enter item embeddings), without torch.

The modes are described in :mod:`gre_ray.recsys.fusion`, which builds the embeddings;
the settings live here so a run config loads without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gre_ray.config.loader import coerce_fields
from gre_ray.errors import ConfigError
from gre_ray.recsys.text_vectors import MissingPolicy, Reduction


class FusionMode(str, Enum):
    NONE = "none"
    ADD = "add"
    CONCAT = "concat"
    TEXT_ONLY = "text_only"
    UNISREC = "unisrec"


@dataclass(frozen=True)
class FusionConfig:
    """How text vectors enter the item representation.

    Attributes:
        mode: the fusion (see module docstring).
        missing: ``error`` or ``zero`` for split items absent from the embeddings table
            (applied when the vectors are loaded).
        reduce: ``none``, ``pca`` or ``whiten`` before the projection.
        reduce_dim: components kept by ``pca``/``whiten`` (None: all, at most the number of items).
        adaptor_experts: experts of the ``unisrec`` adaptor.
        adaptor_dropout: dropout on the text vector inside the ``unisrec`` adaptor.
        adaptor_noise: noisy gating of the ``unisrec`` adaptor in training.
    """

    mode: FusionMode = FusionMode.NONE
    missing: MissingPolicy = MissingPolicy.ERROR
    reduce: Reduction = Reduction.NONE
    reduce_dim: int | None = None
    adaptor_experts: int = 8
    adaptor_dropout: float = 0.0
    adaptor_noise: bool = False

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.adaptor_experts < 1 or not 0.0 <= self.adaptor_dropout < 1.0:
            raise ConfigError(
                f"fusion adaptor_experts must be >= 1 and adaptor_dropout in [0, 1), "
                f"got {self.adaptor_experts} and {self.adaptor_dropout}"
            )
