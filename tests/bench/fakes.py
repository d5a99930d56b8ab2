"""Driver functions that stand in for a real trial in Tune wiring tests.

Each one leaves a file per invocation under ``spec["marks"]`` (so tests count how often
Tune ran a trial) and behaves as ``spec["behaviour"]`` says: ``ok``, ``flaky`` (crashes
after its first epoch, on its first attempt only), ``broken`` (always crashes), ``nan``
(reports a NaN test metric), ``slow`` (sleeps before finishing).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from typing import Any


def marks(folder: str, name: str) -> int:
    """How many times the trial ``name`` was started."""
    if not os.path.isdir(folder):
        return 0
    return sum(1 for f in os.listdir(folder) if f.rsplit("-", 1)[0] == name)


def fake_trial(spec: dict[str, Any], report) -> dict[str, Any]:
    """A two-epoch trial whose scores derive from the spec's ``score``."""
    attempts = marks(spec["marks"], spec["name"])
    os.makedirs(spec["marks"], exist_ok=True)
    open(os.path.join(spec["marks"], f"{spec['name']}-{uuid.uuid4().hex[:8]}"), "w").close()
    behaviour = spec.get("behaviour", "ok")
    if behaviour == "broken":
        raise RuntimeError(f"injected failure in {spec['name']}")
    score = float(spec["score"])
    for epoch in (1, 2):
        report({"epoch": epoch, "train_loss": 1.0 / epoch, "epoch_seconds": 0.01, "valid_score": score * epoch / 2,
                "final": 0})
        if behaviour == "flaky" and attempts == 0:
            raise RuntimeError(f"injected failure in {spec['name']} after epoch {epoch}")
    if behaviour == "slow":
        time.sleep(float(spec.get("sleep", 1.0)))
    test = math.nan if behaviour == "nan" else score
    final = {"epoch": 2, "train_loss": 0.5, "epoch_seconds": 0.01, "valid_score": score, "final": 1,
             "best_epoch": 2, "epochs": 2, "train_seconds": 0.02, "wall_seconds": 0.03, "n_parameters": 10,
             "text_missing": 0, "split_fingerprint": "f" * 16, "valid/ndcg@10": score, "test/ndcg@10": test,
             "test/recall@10": score}
    report(final)
    return final


def spec(name: str, folder: str, score: float = 0.5, behaviour: str = "ok", **extra: Any) -> dict[str, Any]:
    """A trial spec for :func:`fake_trial` with the identity columns the results table needs."""
    base = {"name": name, "dataset": "d", "scenario": "e-commerce", "task": "retrieval", "model": "sasrec",
            "embedding": "id", "fusion": "none", "seed": 0, "lr": 1e-3, "dim": 8}
    return {**base, "score": score, "behaviour": behaviour, "marks": folder, **extra}


SEARCH_BEST = {"lr": 3e-3, "dim": 16}


def search_trial(spec: dict[str, Any], report) -> dict[str, Any]:
    """A four-epoch trial whose validation score peaks at :data:`SEARCH_BEST` and whose test
    score is the opposite, so picking by test would choose another point."""
    valid = 0.5 - abs(math.log10(spec["lr"] / SEARCH_BEST["lr"])) - abs(spec["dim"] - SEARCH_BEST["dim"]) / 100
    for epoch in (1, 2, 3, 4):
        report({"epoch": epoch, "train_loss": 1.0 / epoch, "epoch_seconds": 0.01, "valid_score": valid * epoch / 4,
                "final": 0})
    final = {"epoch": 4, "valid_score": valid, "final": 1, "best_epoch": 4, "epochs": 4,
             "valid/ndcg@10": valid, "test/ndcg@10": 1.0 - valid}
    report(final)
    return final


def keyed_trial(spec: dict[str, Any], report) -> dict[str, Any]:
    """A two-epoch trial of a keyed grid: leaves a mark in ``<store>/../marks`` per start and
    scores from the embedding's content and the dataset (text beats ID-only), sleeping
    ``KEYED_SLEEP`` seconds so a test can interrupt the grid mid-way."""
    import hashlib

    from gre_ray.data.storage import Location

    folder = os.path.join(os.path.dirname(Location.of(spec["store"]).path), "marks")  # the store is a URI
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"{spec['name']}-{uuid.uuid4().hex[:8]}"), "w").close()
    seed = f"{spec.get('embedding_fingerprint', '')}/{spec['dataset']}/{spec['seed']}".encode()
    score = 0.1 + int(hashlib.sha256(seed).hexdigest()[:4], 16) / 65536 * 0.1
    if spec["embedding"] != "id":
        score += 0.2
    time.sleep(KEYED_SLEEP)
    for epoch in (1, 2):
        report({"epoch": epoch, "train_loss": 1.0 / epoch, "epoch_seconds": 0.01, "valid_score": score, "final": 0})
    final = {"epoch": 2, "train_loss": 0.5, "epoch_seconds": 0.01, "valid_score": score, "final": 1,
             "best_epoch": 2, "epochs": 2, "train_seconds": 0.02, "wall_seconds": 0.03, "n_parameters": 10,
             "text_missing": 0, "split_fingerprint": spec["split_fingerprint"], "valid/ndcg@10": score,
             "test/ndcg@10": score, "test/recall@10": 2 * score}
    report(final)
    return final


KEYED_SLEEP = 0.5
