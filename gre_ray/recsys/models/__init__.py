"""The four GRE-B recommenders behind one registry.

``build_model(config, items, n_users, max_len)`` picks the class from the config's type;
``model_config(name, **overrides)`` builds a config by name and rejects unknown keys;
``parse_model_config`` does the same for a mapping from a config file, typed by the loader.

Names are imported on first use (PEP 562), so the torch-free configs
(:mod:`gre_ray.recsys.models.config`) load without torch.
"""

from __future__ import annotations

from gre_ray.lazy import lazy_exports

_HOMES = {
    "gre_ray.recsys.models.config": (
        "DINConfig", "DSSMConfig", "DSSMNegatives", "DeepFMConfig", "ModelConfig", "ModelName", "SASRecConfig",
        "SASRecLoss", "Scoring", "model_config", "parse_model_config",
    ),
    "gre_ray.recsys.models.registry": ("build_model", "model_name", "model_task"),
    "gre_ray.recsys.models.base": ("RankingModel", "Recommender", "RetrievalModel", "Task"),
    "gre_ray.recsys.models.sasrec": ("SASRec",),
    "gre_ray.recsys.models.dssm": ("DSSM",),
    "gre_ray.recsys.models.din": ("DIN",),
    "gre_ray.recsys.models.deepfm": ("DeepFM",),
}

__getattr__, __all__ = lazy_exports(__name__, _HOMES)
