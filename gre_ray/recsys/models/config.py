"""The four recommenders' settings and their registry of names, without torch.

Each model's config dataclass sits here, beside the model files, instead of inside them,
so a run config (``benchmark.models_params``) is typed and checked when it loads without
importing torch; each model file re-imports its config. Defaults and their sources are
documented on each class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Union

from gre_ray.config.loader import build, coerce_fields
from gre_ray.errors import ConfigError


class ModelName(str, Enum):
    SASREC = "sasrec"
    DSSM = "dssm"
    DIN = "din"
    DEEPFM = "deepfm"


class Activation(str, Enum):
    """Activations of the ranking models' MLPs and DSSM's towers (:mod:`~gre_ray.recsys.models.layers`)."""

    DICE = "dice"
    PRELU = "prelu"
    RELU = "relu"
    TANH = "tanh"


class SASRecLoss(str, Enum):
    BCE = "bce"
    SAMPLED_SOFTMAX = "sampled_softmax"
    FULL_CE = "full_ce"
    GBCE = "gbce"
    SHARED_SOFTMAX = "shared_softmax"  # K negatives shared by the batch, logQ-corrected
    MIXED_SOFTMAX = "mixed_softmax"  # in-batch targets + K uniform, logQ-corrected
    AUTO = "auto"  # full_ce while one batch's logits fit full_ce_max_mb, else shared_softmax


class SASRecActivation(str, Enum):
    """The activation of SASRec's point-wise FFN."""

    RELU = "relu"
    GELU = "gelu"


class NegativeSampling(str, Enum):
    UNSEEN = "unseen"  # never an item of the user's training history
    UNIFORM = "uniform"  # any of the N items (gSASRec; may include seen items and the positive)


class Scoring(str, Enum):
    DOT = "dot"
    COSINE = "cosine"


class DSSMNegatives(str, Enum):
    SAMPLED = "sampled"
    IN_BATCH = "in_batch"


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec hyper-parameters; the defaults are the strong baseline of ``docs/recsys.md``.

    Full cross-entropy where one batch's logits fit ``full_ce_max_mb`` (``loss: auto``), else
    sampled softmax over 2,048 shared, logQ-corrected negatives (the best sampled loss of
    the 2k/20k/200k-item comparison); RecBole's FFN (256, GELU); hidden 64, 2 blocks, 2 heads,
    dropout 0.2 (Kang & McAuley 2018, RecBole).

    Attributes:
        dim: hidden width D.
        n_blocks: self-attention blocks.
        n_heads: attention heads (divides ``dim``).
        dropout: dropout of embeddings, attention and FFN.
        loss: see :mod:`gre_ray.recsys.models.sasrec`.
        n_negatives: sampled negatives per position (``bce``, ``sampled_softmax``, ``gbce``)
            or per batch (``shared_softmax``, ``mixed_softmax``).
        neg_power: ``shared_softmax`` draws its negatives with probability proportional to
            (training count + 1) ** neg_power (0: uniform).
        full_ce_max_mb: the memory (MiB) one batch's full-CE logits may take: ``full_ce``
            computes larger batches in chunks of positions (exact), ``auto`` switches to
            ``shared_softmax`` above it; None: no bound.
        gbce_t: gSASRec's calibration t in [0, 1] (``gbce`` only).
        negatives: ``unseen`` or ``uniform`` (see :mod:`gre_ray.recsys.models.sasrec`).
        ffn_dim: width of the point-wise FFN (None: ``dim``).
        activation: the FFN's activation.
        tied_output: score items with the input item embedding (the paper); False gives
            the output its own item embedding, under the same fusion (gSASRec's default,
            ``reuse_item_embeddings=False``).
    """

    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    loss: SASRecLoss = SASRecLoss.AUTO
    n_negatives: int = 2048
    gbce_t: float = 0.75
    negatives: NegativeSampling = NegativeSampling.UNSEEN
    ffn_dim: int | None = 256
    activation: SASRecActivation = SASRecActivation.GELU
    tied_output: bool = True
    neg_power: float = 0.5
    full_ce_max_mb: float | None = 1024.0

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if not 0.0 <= self.gbce_t <= 1.0:
            raise ValueError(f"gbce_t must be in [0, 1], got {self.gbce_t}")
        if self.n_negatives < 1 and self.loss != SASRecLoss.FULL_CE:
            raise ValueError(f"loss {self.loss.value} needs n_negatives >= 1, got {self.n_negatives}")
        if self.ffn_dim is not None and self.ffn_dim < 1:
            raise ValueError(f"ffn_dim must be >= 1, got {self.ffn_dim}")
        if self.neg_power < 0:
            raise ValueError(f"neg_power must be >= 0, got {self.neg_power}")
        if self.full_ce_max_mb is not None and self.full_ce_max_mb <= 0:
            raise ValueError(f"full_ce_max_mb must be > 0 (or null for no bound), got {self.full_ce_max_mb}")


@dataclass(frozen=True)
class DSSMConfig:
    """DSSM hyper-parameters; ``tower`` lists the hidden widths, the last is the output."""

    dim: int = 64
    tower: tuple[int, ...] = (128, 64)
    activation: Activation = Activation.TANH
    scoring: Scoring = Scoring.COSINE
    temperature: float = 0.1
    negatives: DSSMNegatives = DSSMNegatives.SAMPLED
    n_negatives: int = 4

    def __post_init__(self) -> None:
        coerce_fields(self)


@dataclass(frozen=True)
class DINConfig:
    """DIN hyper-parameters (defaults from the paper's Amazon setup, embedding 16)."""

    dim: int = 16
    attention: tuple[int, ...] = (80, 40)
    mlp: tuple[int, ...] = (200, 80)
    activation: Activation = Activation.DICE
    dropout: float = 0.0
    use_user: bool = True

    def __post_init__(self) -> None:
        coerce_fields(self)


@dataclass(frozen=True)
class DeepFMConfig:
    """DeepFM hyper-parameters."""

    dim: int = 16
    mlp: tuple[int, ...] = (400, 400, 400)
    activation: Activation = Activation.RELU
    dropout: float = 0.2
    use_user: bool = True

    def __post_init__(self) -> None:
        coerce_fields(self)


ModelConfig = Union[SASRecConfig, DSSMConfig, DINConfig, DeepFMConfig]

CONFIGS: dict[ModelName, type] = {
    ModelName.SASREC: SASRecConfig,
    ModelName.DSSM: DSSMConfig,
    ModelName.DIN: DINConfig,
    ModelName.DEEPFM: DeepFMConfig,
}


def model_config(name: str | ModelName, **overrides: Any) -> ModelConfig:
    """The default config of model ``name`` with ``overrides`` applied (see :func:`parse_model_config`)."""
    return parse_model_config(name, overrides)


def parse_model_config(name: str | ModelName, params: Mapping[str, Any], key: str = "") -> ModelConfig:
    """The config of model ``name`` from a mapping of settings, typed by the config loader.

    Every value is checked against the field's annotation, as for any config section, so
    ``deepfm: {dim: "16"}`` in ``benchmark.models_params`` is refused when the config
    loads, not inside a trial.

    Args:
        name: the model.
        params: settings that differ from the model's defaults.
        key: the dotted config key of ``params``, for messages (default ``model <name>``).

    Raises:
        ConfigError: unknown model name, unknown key (the message lists the valid ones), or
            a value of the wrong type or out of range (the message names the key).
    """
    try:
        config_cls = CONFIGS[ModelName(name)]
    except ValueError:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(n.value for n in ModelName)}") from None
    name = ModelName(name).value
    fields = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} for model {name}; valid: {', '.join(fields)}")
    return build(config_cls, params, prefix=key or f"model {name}")
