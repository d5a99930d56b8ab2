"""The trials of a GRE-B grid: one plain, JSON-ready spec per trial, with a stable name.

A trial is (dataset, model, embedding or ID-only, fusion, seed, hyper-parameters). Its name
is built from those values only, e.g. ``kitchen-sasrec-minilm-add-s0`` or
``kitchen-sasrec-id-s0``: no timestamp and no random part, so an interrupted Tune
experiment is restored trial by trial. Everything a trial needs (the saved split, the
embeddings file, the training settings) is in its spec, so the driver function reads
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gre_ray.bench.config import ID_ONLY, BenchmarkConfig, slug
from gre_ray.bench.identity import spec_fields
from gre_ray.config.loader import to_dict
from gre_ray.recsys.fusion import FusionMode
from gre_ray.recsys.models import ModelName, model_task
from gre_ray.recsys.models import model_config as build_model_config
from gre_ray.recsys.models.base import Task


@dataclass(frozen=True)
class DatasetInputs:
    """What the grid needs to know about one prepared dataset.

    Attributes:
        name: the domain name.
        scenario: its GRE-B scenario.
        splits: task (``retrieval`` / ``ranking``) → folder of the saved split.
        embeddings: embedding name → embeddings Parquet of the dataset's items.
        split_fingerprints: task → content fingerprint of its split (enters trial keys).
        split_kinds: task → split kind (``retrieval``, ``ranking_implicit``, ...).
        embedding_fingerprints: embedding name → content fingerprint of its vectors
            (weights, encoder settings, item texts; enters trial keys).
        embedding_identities: embedding name → its model, revision, parameters and
            training datasets (:func:`gre_ray.bench.identity.embedding_identities`).
    """

    name: str
    scenario: str
    splits: dict[str, str]
    embeddings: dict[str, str]
    split_fingerprints: dict[str, str] = field(default_factory=dict)
    split_kinds: dict[str, str] = field(default_factory=dict)
    embedding_fingerprints: dict[str, str] = field(default_factory=dict)
    embedding_identities: dict[str, dict[str, Any]] = field(default_factory=dict)


def trial_name(dataset: str, model: str, embedding: str, fusion: str, seed: int, tag: str = "") -> str:
    """The stable name of a trial (``<dataset>-<model>-<embedding>[-<fusion>]-s<seed>[-<tag>]``)."""
    parts = [slug(dataset), model, embedding]
    if embedding != ID_ONLY:
        parts.append(fusion)
    parts.append(f"s{seed}")
    if tag:
        parts.append(tag)
    return "-".join(parts)


def protocol_of(task: str, split_kind: str, mask_history: bool = True) -> dict[str, Any]:
    """How a trial's test metrics are measured: ``ranking`` (``full``: every item of the
    catalogue ranked; ``sampled``: the test positives among sampled negatives; ``labelled``:
    items labelled by rating), the split kind, and whether the user's earlier items are
    masked out of the ranking (retrieval: the trial's ``train.mask_history``)."""
    if task == Task.RETRIEVAL.value:
        return {"ranking": "full", "split": split_kind or "retrieval", "history_masked": bool(mask_history)}
    kind = split_kind or "ranking_implicit"
    labelled = kind in ("ranking_explicit", "ranking_random", "ranking_time")
    return {"ranking": "labelled" if labelled else "sampled", "split": kind, "history_masked": False}


def task_of(model: str | ModelName) -> str:
    """``retrieval`` or ``ranking``: which split and metrics a model uses."""
    return model_task(build_model_config(model)).value


def make_spec(
    config: BenchmarkConfig,
    data: DatasetInputs,
    model: str,
    embedding: str,
    fusion: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
    tag: str = "",
) -> dict[str, Any]:
    """The spec of one trial.

    Args:
        config: the benchmark settings.
        data: the dataset's prepared splits and embeddings.
        model: model name.
        embedding: embedding name, or ``id``.
        fusion: fusion mode (``none`` for ID-only).
        seed: training seed.
        overrides: ``lr`` and model ``dim`` (from search), applied over the config.
        tag: appended to the name (search trials).

    Returns:
        A JSON-ready dict; see :func:`gre_ray.bench.trial.run_trial` for how it is read.
    """
    overrides = overrides or {}
    train = to_dict(config.train_for(model))
    train.update(seed=seed, device=config.resources.device)
    if "lr" in overrides:
        train["lr"] = float(overrides["lr"])
    params = dict(config.models_params.get(model, {}))
    if "dim" in overrides:
        params["dim"] = int(overrides["dim"])
    task = task_of(model)
    return {
        "name": trial_name(data.name, model, embedding, fusion, seed, tag),
        "dataset": data.name,
        "scenario": data.scenario,
        "model": model,
        "task": task,
        "embedding": embedding,
        "fusion": fusion,
        "seed": int(seed),
        "lr": float(train["lr"]),
        "dim": int(params.get("dim", getattr(build_model_config(model), "dim"))),
        "split_path": data.splits[task],
        "embedding_path": data.embeddings.get(embedding, "") if embedding != ID_ONLY else "",
        "missing_text": config.missing_text.value,
        "text_reduce": config.text_reduce.value,
        "text_reduce_dim": config.text_reduce_dim,
        "model_params": params,
        "train": train,
        "torch_threads": config.resources.torch_threads,
        "split_fingerprint": data.split_fingerprints.get(task, ""),
        "embedding_fingerprint": data.embedding_fingerprints.get(embedding, "") if embedding != ID_ONLY else "",
        "protocol": protocol_of(task, data.split_kinds.get(task, ""), train["mask_history"]),
        **spec_fields(data.embedding_identities.get(embedding) if embedding != ID_ONLY else None),
    }


def grid_specs(
    config: BenchmarkConfig,
    datasets: list[DatasetInputs],
    chosen: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every trial of the grid, in a stable order (dataset, model, variant, seed).

    Args:
        config: the benchmark settings.
        datasets: the prepared datasets.
        chosen: (dataset, model) → ``{"lr": ..., "dim": ...}`` picked by search mode.

    Returns:
        The trial specs; their names are unique.
    """
    chosen = chosen or {}
    specs = []
    for data in datasets:
        for model in (m.value for m in config.models):
            for embedding, fusion in config.variants():
                for seed in config.seeds:
                    specs.append(
                        make_spec(config, data, model, embedding, FusionMode(fusion).value, seed,
                                  chosen.get((data.name, model)))
                    )
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        clashes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"trial names clash after making them file-safe: {clashes[:5]}")
    return specs


def search_specs(config: BenchmarkConfig, datasets: list[DatasetInputs]) -> list[dict[str, Any]]:
    """The search trials: every (lr, dim) for every (dataset, model), on ``search.embedding``."""
    search = config.search
    fusion = FusionMode.NONE.value if search.embedding == ID_ONLY else config.fusions[0].value
    specs = []
    for data in datasets:
        for model in (m.value for m in config.models):
            for lr in search.lr:
                for dim in search.dim:
                    tag = f"lr{lr:g}-d{dim}"
                    specs.append(make_spec(config, data, model, search.embedding, fusion, search.seed,
                                           {"lr": lr, "dim": dim}, tag=tag))
    return specs
