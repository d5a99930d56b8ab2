"""The four GRE-B recommenders by name: build a model from its config, and name a config's model.

``build_model(config, items, n_users, max_len)`` picks the class from the config's type
(the configs and their names live in :mod:`gre_ray.recsys.models.config`, without torch).
"""

from __future__ import annotations

from gre_ray.errors import ConfigError
from gre_ray.recsys.fusion import ItemFeatures
from gre_ray.recsys.models.base import Recommender, Task
from gre_ray.recsys.models.config import CONFIGS, ModelConfig, ModelName
from gre_ray.recsys.models.deepfm import DeepFM
from gre_ray.recsys.models.din import DIN
from gre_ray.recsys.models.dssm import DSSM
from gre_ray.recsys.models.sasrec import SASRec

MODELS: dict[ModelName, type[Recommender]] = {
    ModelName.SASREC: SASRec,
    ModelName.DSSM: DSSM,
    ModelName.DIN: DIN,
    ModelName.DEEPFM: DeepFM,
}


def model_name(config: ModelConfig) -> ModelName:
    """The registry name of a config object."""
    for name, config_cls in CONFIGS.items():
        if isinstance(config, config_cls):
            return name
    raise ConfigError(
        f"{type(config).__name__} is not a model config ({', '.join(n.value for n in ModelName)})"
    )


def model_task(config: ModelConfig) -> Task:
    """``retrieval`` or ``ranking`` for a config."""
    return MODELS[model_name(config)].task


def build_model(config: ModelConfig, items: ItemFeatures, n_users: int, max_len: int) -> Recommender:
    """Instantiate the model of ``config`` over ``items``."""
    return MODELS[model_name(config)](config, items, n_users, max_len)
