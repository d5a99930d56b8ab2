"""The driver function of one GRE-B trial: load the shared split and the embeddings, train
with early stopping on validation, report every epoch, then report the test metrics of the
best epoch.

Plain Python (no Ray): ``report`` is any callable taking a metrics dict; the Tune layer
passes ``ray.tune.report``, the plain-loop baseline in ``benchmarks/bench_tune.py`` a
function that drops them. Every report carries ``final`` (0 per epoch, 1 for the last one), so the
per-epoch history and the final record can be told apart in Tune's logs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

import torch

from gre_ray.bench.trial_spec import TrialSpec
from gre_ray.recsys.fusion import FusionConfig, FusionMode
from gre_ray.recsys.models import model_config
from gre_ray.recsys.split_io import load_split
from gre_ray.recsys.splits import Split
from gre_ray.recsys.text_vectors import MissingPolicy, TextVectors, load_text_vectors
from gre_ray.recsys.train import DEFAULT_METRIC, Result, train_and_evaluate

Report = Callable[[dict[str, Any]], None]


@lru_cache(maxsize=8)
def _split(path: str) -> Split:
    """A saved split, read once per process (actors are reused across trials)."""
    return load_split(path)


@lru_cache(maxsize=16)
def _text(path: str, split_path: str, missing: str, dataset: str) -> TextVectors:
    """Embeddings aligned to a split, read once per process."""
    return load_text_vectors(path, _split(split_path).item_ids, missing=MissingPolicy(missing), dataset=dataset)


def epoch_metrics(record: dict[str, Any], metric: str) -> dict[str, Any]:
    """What a trial reports after an epoch: loss, validation metrics and ``valid_score``.

    Args:
        record: the epoch record of :func:`~gre_ray.recsys.train.train_and_evaluate`.
        metric: the selection metric (``ndcg@10`` or ``auc`` by default).
    """
    out = {k: float(v) for k, v in record.items() if isinstance(v, (int, float))}
    out["valid_score"] = float(record[f"valid/{metric}"])
    out["final"] = 0
    return out


def final_metrics(result: Result, wall_seconds: float) -> dict[str, Any]:
    """The last report of a trial: test and validation metrics of the best epoch and its cost."""
    last = result.history[-1] if result.history else {}
    out: dict[str, Any] = {
        "epoch": float(last.get("epoch", 0)),
        "train_loss": float(last.get("train_loss", math.nan)),
        "epoch_seconds": float(last.get("epoch_seconds", 0.0)),
        "valid_score": float(result.valid.get(result.metric, math.nan)),
        "final": 1,
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "train_seconds": float(result.train_seconds),
        "wall_seconds": float(wall_seconds),
        "n_parameters": result.n_parameters,
        "text_missing": result.text_missing,
        "split_fingerprint": result.split_fingerprint,
        "train_targets": result.train_targets,
        "mask_history": int(result.mask_history),
    }
    out.update({f"valid/{k}": float(v) for k, v in result.valid.items()})
    out.update({f"test/{k}": float(v) for k, v in result.test.items()})
    return out


def run_trial(spec: TrialSpec | Mapping[str, Any], report: Report, *, device: str | None = None,
              node: str = "") -> dict[str, Any]:
    """Train and evaluate the trial ``spec`` (see :func:`gre_ray.bench.trials.make_spec`).

    Args:
        spec: the trial spec, or the plain form Tune carries (read back with
            :meth:`TrialSpec.of <gre_ray.bench.trial_spec.TrialSpec.of>`).
        report: called with the metrics of every epoch and, last, with the final record.
        device: the torch device of a trial that Ray gave a GPU share (replaces the spec's
            ``cuda``; :func:`gre_ray.wiring.tune_grid.placed_trial` resolves it).
        node: the Ray node the trial runs on, recorded in the final record.

    Returns:
        The final record (also passed to ``report``).

    Raises:
        ConfigError, DataError: a bad model setting or a broken split or embeddings file.
        FloatingPointError: the loss or the scores became non-finite.
    """
    spec = TrialSpec.of(spec)
    start = time.perf_counter()
    torch.set_num_threads(spec.torch_threads)
    split = _split(spec.split_path)
    fusion = FusionConfig(mode=spec.fusion, missing=spec.missing_text, reduce=spec.text_reduce,
                          reduce_dim=spec.text_reduce_dim)
    text = None
    if fusion.mode != FusionMode.NONE:
        text = _text(spec.embedding_path, spec.split_path, spec.missing_text.value, spec.dataset)
    train_cfg = spec.train if device is None else replace(spec.train, device=device)
    metric = train_cfg.metric or DEFAULT_METRIC[spec.task]

    def on_epoch(record: dict[str, Any]) -> None:
        report(epoch_metrics(record, metric))

    result = train_and_evaluate(
        split, model_config(spec.model, **spec.model_params), fusion, train_cfg, text, callback=on_epoch
    )
    final = final_metrics(result, time.perf_counter() - start)
    final["node_id"] = node
    report(final)
    return final
