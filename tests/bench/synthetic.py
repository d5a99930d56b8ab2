"""A hand-made GRE-B results table: known values, so leaderboards, gains and tests can be
checked without training anything."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gre_ray.bench.results import RESULT_COLUMNS

SCENARIOS = {"a": "e-commerce", "b": "e-commerce", "c": "video", "d": "video"}


def results_frame(seeds=(0, 1, 2), text_gain: float = 0.02, failed: tuple[str, ...] = ()) -> pd.DataFrame:
    """sasrec (ndcg@10) and deepfm (auc, logloss) on four datasets, variants id / base-add /
    gre-add; ``gre`` beats ``base`` which beats ``id`` by ``text_gain`` plus seeded noise."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset, scenario in SCENARIOS.items():
        for model, task, metrics in (("sasrec", "retrieval", ["ndcg@10"]), ("deepfm", "ranking", ["auc", "logloss"])):
            for level, (embedding, fusion) in enumerate((("id", "none"), ("base", "add"), ("gre", "add"))):
                for seed in seeds:
                    name = f"{dataset}-{model}-{embedding}" + ("" if embedding == "id" else "-add") + f"-s{seed}"
                    bad = name in failed
                    for metric in metrics:
                        value = {"ndcg@10": 0.1, "auc": 0.7, "logloss": 0.5}[metric]
                        step = text_gain * level + rng.normal(0, 0.002)
                        value = value - step if metric == "logloss" else value + step
                        rows.append({
                            "trial": name, "dataset": dataset, "scenario": scenario, "task": task, "model": model,
                            "embedding": embedding, "fusion": fusion, "seed": seed, "lr": 1e-3, "dim": 16,
                            "metric": metric, "value": np.nan if bad else value, "valid_value": value,
                            "best_epoch": 3, "epochs": 5, "train_seconds": 1.0, "wall_seconds": 1.2,
                            "n_parameters": 100, "text_missing": 0, "status": "failed" if bad else "ok",
                            "error": "RuntimeError: boom" if bad else "", "failures": 2 if bad else 0,
                            "split_fingerprint": "f" * 16,
                        })
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for column in ("best_epoch", "epochs", "n_parameters", "text_missing"):
        frame[column] = frame[column].astype("Int64")
    return frame


def history_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Five epochs of a rising validation score for every trial of ``results``."""
    trials = results.drop_duplicates("trial")
    rows = [
        {"trial": t.trial, "dataset": t.dataset, "model": t.model, "embedding": t.embedding, "fusion": t.fusion,
         "seed": t.seed, "epoch": e, "train_loss": 1.0 / e, "valid_score": 0.1 * e, "epoch_seconds": 0.1}
        for t in trials.itertuples() for e in range(1, 6)
    ]
    return pd.DataFrame(rows)
