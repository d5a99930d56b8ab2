"""The four GRE-B recommenders behind one registry.

``build_model(config, items, n_users, max_len)`` picks the class from the config's type;
``model_config(name, **overrides)`` builds a config by name and rejects unknown keys.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Union

from gre_ray.errors import ConfigError
from gre_ray.recsys.fusion import ItemFeatures
from gre_ray.recsys.models.base import RankingModel, Recommender, RetrievalModel, Task
from gre_ray.recsys.models.deepfm import DeepFM, DeepFMConfig
from gre_ray.recsys.models.din import DIN, DINConfig
from gre_ray.recsys.models.dssm import DSSM, DSSMConfig, DSSMNegatives, Scoring
from gre_ray.recsys.models.sasrec import SASRec, SASRecConfig, SASRecLoss


class ModelName(str, Enum):
    SASREC = "sasrec"
    DSSM = "dssm"
    DIN = "din"
    DEEPFM = "deepfm"


ModelConfig = Union[SASRecConfig, DSSMConfig, DINConfig, DeepFMConfig]

REGISTRY: dict[ModelName, tuple[type, type[Recommender]]] = {
    ModelName.SASREC: (SASRecConfig, SASRec),
    ModelName.DSSM: (DSSMConfig, DSSM),
    ModelName.DIN: (DINConfig, DIN),
    ModelName.DEEPFM: (DeepFMConfig, DeepFM),
}


def model_name(config: ModelConfig) -> ModelName:
    """The registry name of a config object."""
    for name, (config_cls, _) in REGISTRY.items():
        if isinstance(config, config_cls):
            return name
    raise ConfigError(
        f"{type(config).__name__} is not a model config ({', '.join(n.value for n in ModelName)})"
    )


def model_task(config: ModelConfig) -> Task:
    """``retrieval`` or ``ranking`` for a config."""
    return REGISTRY[model_name(config)][1].task


def model_config(name: str | ModelName, **overrides: Any) -> ModelConfig:
    """The default config of model ``name`` with ``overrides`` applied.

    Raises:
        ConfigError: unknown model name or unknown key (the message lists the valid ones).
    """
    try:
        config_cls = REGISTRY[ModelName(name)][0]
    except ValueError:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(n.value for n in ModelName)}") from None
    fields = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} for model {name}; valid: {', '.join(fields)}")
    try:
        return config_cls(**overrides)
    except ValueError as exc:
        raise ConfigError(f"model {name}: {exc}") from None


def build_model(config: ModelConfig, items: ItemFeatures, n_users: int, max_len: int) -> Recommender:
    """Instantiate the model of ``config`` over ``items``."""
    return REGISTRY[model_name(config)][1](config, items, n_users, max_len)


__all__ = [
    "DIN",
    "DINConfig",
    "DSSM",
    "DSSMConfig",
    "DSSMNegatives",
    "DeepFM",
    "DeepFMConfig",
    "ModelConfig",
    "ModelName",
    "RankingModel",
    "Recommender",
    "RetrievalModel",
    "SASRec",
    "SASRecConfig",
    "SASRecLoss",
    "Scoring",
    "Task",
    "build_model",
    "model_config",
    "model_name",
    "model_task",
]
