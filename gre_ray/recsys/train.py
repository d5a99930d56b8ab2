"""Train one recommender on one split and evaluate it: the unit of a GRE-B trial.

Adam; after every epoch the validation metric (``ndcg@10`` for retrieval, ``auc`` for
ranking, or ``TrainConfig.metric``) decides early stopping with ``patience``; the best
epoch's weights are restored and evaluated once on test. The test stage is never read
before that (the reference implementation early-stopped CTR models on test).

Determinism: ``torch.manual_seed(seed)`` before the model is built, and a numpy
``Generator`` seeded by ``(split seed, training seed, epoch)`` for shuffling and negatives.
The generator does not depend on the model or the fusion, so an ID-only run and a text run
see the same batches and negatives, the same budget and the same selection rule.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from gre_ray.errors import ConfigError
from gre_ray.recsys.batches import RetrievalBatches, ranking_batches, to_tensors
from gre_ray.recsys.ce_memory import resolve_config
from gre_ray.recsys.evaluation import evaluate, popularity_metrics
from gre_ray.recsys.fusion import FusionConfig, ItemFeatures
from gre_ray.recsys.metric_table import HEADLINE, selectable_metrics
from gre_ray.recsys.models import ModelConfig, build_model, model_name, model_task
from gre_ray.recsys.models.base import Recommender, RetrievalModel, Task
from gre_ray.recsys.splits import Split, SplitKind, Stage
from gre_ray.recsys.text_vectors import TextVectors
from gre_ray.recsys.train_config import TrainConfig

DEFAULT_METRIC = {Task(task): metric for task, metric in HEADLINE.items()}


@dataclass
class Result:
    """What one trial returns: the test metrics of the selected epoch and how it got there."""

    model: str
    fusion: str
    dataset: str
    split_fingerprint: str
    metric: str
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    n_parameters: int = 0
    train_seconds: float = 0.0
    text_missing: int = 0
    mask_history: bool = True
    train_targets: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(split: Split, task: Task, cfg: TrainConfig) -> str:
    """Validate the pairing of split, model and settings; return the selection metric."""
    want = Task.RETRIEVAL if split.kind == SplitKind.RETRIEVAL else Task.RANKING
    if task != want:
        kinds = "retrieval" if task == Task.RETRIEVAL else "ranking_implicit or ranking_explicit"
        also = "" if task == Task.RETRIEVAL else " (ranking_random and ranking_time work too)"
        raise ConfigError(f"a {task.value} model needs a {kinds} split, got a {split.kind.value} split{also}")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={cfg.device} but CUDA is not available")
    metric = cfg.metric or DEFAULT_METRIC[task]
    if task == Task.RETRIEVAL and cfg.train_stride is not None and cfg.train_stride > split.config.max_len:
        raise ConfigError(
            f"train.train_stride={cfg.train_stride} exceeds the split's max_len={split.config.max_len}"
        )
    valid = selectable_metrics(task.value)
    if metric not in valid:
        raise ConfigError(f"train.metric={metric!r} is not a {task.value} metric; valid: {', '.join(valid)}")
    return metric


@dataclass
class Trained:
    """A model restored to its best validation epoch, before any test evaluation."""

    model: Recommender
    items: ItemFeatures
    metric: str
    best_epoch: int
    valid: dict[str, float]
    history: list[dict[str, float]]
    train_seconds: float
    eval_kwargs: dict[str, Any]
    train_targets: int = 0


def _train_epoch(model, batches, optimizer, device, grad_clip: float | None, epoch: int) -> float:
    """One pass of Adam steps over ``batches``; returns the mean batch loss."""
    losses = []
    model.train()
    for batch in batches:
        loss = model.loss(to_tensors(batch, device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at epoch {epoch}; lower train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def fit(
    split: Split,
    model_cfg: ModelConfig,
    fusion_cfg: FusionConfig,
    train_cfg: TrainConfig,
    text_vectors: TextVectors | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> Trained:
    """Train with early stopping on the validation stage and restore the best epoch.

    Args: as :func:`train_and_evaluate`.

    Returns:
        The trained model and its selection record; the test stage has not been read.
    """
    task = model_task(model_cfg)
    metric = _check(split, task, train_cfg)
    device = torch.device(train_cfg.device)
    items = ItemFeatures(split.n_items, fusion_cfg, text_vectors, item_ids=split.item_ids)
    model_cfg = resolve_config(model_cfg, split.n_items, train_cfg.batch_size, split.config.max_len)  # loss: auto
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg, items, split.n_users, split.config.max_len).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    retrieval = RetrievalBatches(split) if task == Task.RETRIEVAL else None
    eval_kwargs = dict(
        batches=retrieval,
        device=device,
        user_chunk=train_cfg.eval_user_chunk,
        item_chunk=train_cfg.eval_item_chunk,
        ties=train_cfg.ties,
        batch_size=train_cfg.eval_batch_size,
        mask_history=train_cfg.mask_history,
    )
    if retrieval is not None:
        train_targets = retrieval.n_targets(train_cfg.positions, train_cfg.train_stride)
    else:
        train_targets = len(split.samples[Stage.TRAIN])
    history: list[dict[str, float]] = []
    best_value, best_epoch, best_state, best_valid, waited = -np.inf, 0, None, {}, 0
    start = time.perf_counter()
    for epoch in range(1, train_cfg.max_epochs + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([split.config.seed, train_cfg.seed, epoch])  # independent of the model
        if isinstance(model, RetrievalModel):
            batches = retrieval.train(
                train_cfg.batch_size, model.n_negatives, rng, positions=train_cfg.positions,
                stride=train_cfg.train_stride, exclude_seen=model.negatives_exclude_seen,
                shared=getattr(model, "shared_negatives", None),
            )
        else:
            batches = ranking_batches(split, Stage.TRAIN, train_cfg.batch_size, rng)
        train_loss = _train_epoch(model, batches, optimizer, device, train_cfg.grad_clip, epoch)
        valid = evaluate(model, split, Stage.VALID, **eval_kwargs)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "epoch_seconds": time.perf_counter() - t0,
            "train_targets": train_targets,
        }
        record.update({f"valid/{k}": v for k, v in valid.items()})
        history.append(record)
        if valid[metric] > best_value + train_cfg.min_delta:
            best_value, best_epoch, best_valid, waited = valid[metric], epoch, valid, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if callback is not None:
            callback(dict(record, best_epoch=best_epoch))
        if waited >= train_cfg.patience:
            break
    if best_state is None:
        raise FloatingPointError(f"validation {metric} was never a number; the model diverged")
    model.load_state_dict(best_state)
    return Trained(
        model, items, metric, best_epoch, best_valid, history, time.perf_counter() - start, eval_kwargs,
        train_targets,
    )


def train_and_evaluate(
    split: Split,
    model_cfg: ModelConfig,
    fusion_cfg: FusionConfig,
    train_cfg: TrainConfig,
    text_vectors: TextVectors | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> Result:
    """Train ``model_cfg`` with ``fusion_cfg`` on ``split``, select on validation, test once.

    Args:
        split: a split from :func:`~gre_ray.recsys.splits.make_split` or ``load_split``.
        model_cfg: a SASRec/DSSM/DIN/DeepFM config.
        fusion_cfg: how text vectors enter the item representation.
        train_cfg: optimisation and evaluation settings.
        text_vectors: vectors aligned to ``split.item_ids`` (needed unless fusion is ``none``).
        callback: called after every epoch with that epoch's record (``epoch``,
            ``train_loss``, ``epoch_seconds``, ``train_targets`` (training targets or
            samples per epoch), ``valid/<metric>``..., ``best_epoch``).

    Returns:
        The :class:`Result` with the test metrics of the best validation epoch.

    Raises:
        ConfigError: model/split task mismatch, unknown metric, missing or misaligned text
            vectors, unavailable device.
    """
    trained = fit(split, model_cfg, fusion_cfg, train_cfg, text_vectors, callback)
    test = evaluate(trained.model, split, Stage.TEST, **trained.eval_kwargs)
    return Result(
        model=model_name(model_cfg).value,
        fusion=fusion_cfg.mode.value,
        dataset=split.dataset,
        split_fingerprint=split.fingerprint,
        metric=trained.metric,
        best_epoch=trained.best_epoch,
        valid=trained.valid,
        test=test,
        history=trained.history,
        n_parameters=sum(p.numel() for p in trained.model.parameters()),
        train_seconds=trained.train_seconds,
        text_missing=trained.items.n_missing,
        mask_history=train_cfg.mask_history,
        train_targets=trained.train_targets,
    )


def popularity_baseline(split: Split) -> Result:
    """The popularity baseline on ``split`` (no training), in the same :class:`Result` form."""
    task = Task.RETRIEVAL if split.kind == SplitKind.RETRIEVAL else Task.RANKING
    return Result(
        model="popularity",
        fusion="none",
        dataset=split.dataset,
        split_fingerprint=split.fingerprint,
        metric=DEFAULT_METRIC[task],
        best_epoch=0,
        valid=popularity_metrics(split, Stage.VALID),
        test=popularity_metrics(split, Stage.TEST),
    )
