"""GRE-B downstream recommenders: splits, SASRec/DSSM/DIN/DeepFM, text fusion, metrics, training.

Pure torch/numpy/pandas (Ray wiring lives in the Tune layer). Names are imported on first
use (PEP 562), so the torch-free settings modules (``fusion_config``, ``train_config``,
``models.config``, ``metric_table``) load without torch. A trial is::

    split = make_split(interactions, SplitConfig(kind="retrieval"), dataset="beauty")
    text = load_text_vectors("embeddings.parquet", split.item_ids, dataset="beauty")
    result = train_and_evaluate(split, model_config("sasrec"), FusionConfig(mode="add"), TrainConfig(), text)
"""

from __future__ import annotations

from gre_ray.lazy import lazy_exports

_HOMES = {
    "gre_ray.recsys.evaluation": ("evaluate", "popularity_metrics"),
    "gre_ray.recsys.fusion": ("ItemEmbedding", "ItemFeatures"),
    "gre_ray.recsys.fusion_config": ("FusionConfig", "FusionMode"),
    "gre_ray.recsys.metric_table": ("KS", "Ties"),
    "gre_ray.recsys.metrics": ("auc", "full_ranking_ranks", "grouped_auc", "log_loss", "naive_ranks", "ranking_metrics"),
    "gre_ray.recsys.models.config": ("ModelName", "model_config"),
    "gre_ray.recsys.models.registry": ("build_model",),
    "gre_ray.recsys.split_io": ("load_split", "save_split"),
    "gre_ray.recsys.splits": ("Split", "SplitConfig", "SplitKind", "Stage", "make_split"),
    "gre_ray.recsys.text_vectors": ("MissingPolicy", "Reduction", "TextVectors", "align_text_vectors", "load_text_vectors"),
    "gre_ray.recsys.train": ("Result", "fit", "popularity_baseline", "train_and_evaluate"),
    "gre_ray.recsys.train_config": ("TrainConfig",),
}

__getattr__, __all__ = lazy_exports(__name__, _HOMES)
