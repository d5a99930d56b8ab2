"""GRE-B downstream recommenders: splits, SASRec/DSSM/DIN/DeepFM, text fusion, metrics, training.

Pure torch/numpy/pandas (Ray wiring lives in the Tune layer). A trial is::

    split = make_split(interactions, SplitConfig(kind="retrieval"), dataset="beauty")
    text = load_text_vectors("embeddings.parquet", split.item_ids, dataset="beauty")
    result = train_and_evaluate(split, model_config("sasrec"), FusionConfig(mode="add"), TrainConfig(), text)
"""

from gre_ray.recsys.evaluate import evaluate, popularity_metrics
from gre_ray.recsys.fusion import FusionConfig, FusionMode, ItemEmbedding, ItemFeatures
from gre_ray.recsys.metrics import (
    KS,
    Ties,
    auc,
    full_ranking_ranks,
    grouped_auc,
    log_loss,
    naive_ranks,
    ranking_metrics,
)
from gre_ray.recsys.models import ModelName, build_model, model_config
from gre_ray.recsys.split_io import load_split, save_split
from gre_ray.recsys.splits import Split, SplitConfig, SplitKind, Stage, make_split
from gre_ray.recsys.text_vectors import (
    MissingPolicy,
    Reduction,
    TextVectors,
    align_text_vectors,
    load_text_vectors,
)
from gre_ray.recsys.train import Result, TrainConfig, fit, popularity_baseline, train_and_evaluate

__all__ = [
    "KS",
    "FusionConfig",
    "FusionMode",
    "ItemEmbedding",
    "ItemFeatures",
    "MissingPolicy",
    "ModelName",
    "Reduction",
    "Result",
    "Split",
    "SplitConfig",
    "SplitKind",
    "Stage",
    "TextVectors",
    "Ties",
    "TrainConfig",
    "align_text_vectors",
    "auc",
    "build_model",
    "evaluate",
    "fit",
    "full_ranking_ranks",
    "grouped_auc",
    "load_split",
    "load_text_vectors",
    "log_loss",
    "make_split",
    "model_config",
    "naive_ranks",
    "popularity_baseline",
    "popularity_metrics",
    "ranking_metrics",
    "save_split",
    "train_and_evaluate",
]
