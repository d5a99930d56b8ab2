"""How much memory SASRec's full cross-entropy needs, and which loss ``auto`` becomes.

Full cross-entropy (Klenitskiy & Vasilev, RecSys 2023) scores every training position of a
batch against the whole catalogue: one batch holds ``P x (N + 1)`` float32 logits, their
softmax and their gradient, so about ``12 * P * (N + 1)`` bytes, with ``P = batch_size x
max_len`` positions at most. At GRE-B's largest catalogue (1.7 M items, P = 128 x 50) that
is 130 GB for one batch. This module holds that arithmetic without torch, so the training
loop (which resolves ``loss: auto``) and the benchmark stage's preflight (which refuses a
``full_ce`` that cannot fit) read one rule.

``auto`` (SASRec's default) is full CE when one batch's logits fit ``full_ce_max_mb`` and the
best sampled loss measured in ``docs/recsys.md`` above it: ``shared_softmax``, K negatives
shared by the batch with logQ correction.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from gre_ray.errors import ConfigError
from gre_ray.recsys.models.config import SASRecConfig, SASRecLoss, parse_model_config

BYTES_PER_LOGIT = 12  # float32 logits, their softmax and their gradient
SAMPLED_INSTEAD = "shared_softmax (n_negatives: 2048, logQ-corrected) or mixed_softmax"
AUTO_SAMPLED = SASRecLoss.SHARED_SOFTMAX
CLUSTER_GPU_BYTES = 24 * 2**30  # the shipped clusters' GPUs (A10G, L4: 24 GB each)


def full_ce_bytes(n_items: int, positions: int) -> int:
    """Bytes of one batch's full-CE logits, softmax and gradient: ``12 * P * (N + 1)``."""
    return BYTES_PER_LOGIT * int(positions) * (int(n_items) + 1)


def resolve_loss(cfg: SASRecConfig, n_items: int, positions: int) -> SASRecLoss:
    """The loss ``cfg.loss`` trains with on ``n_items`` items and ``positions`` per batch.

    ``auto`` becomes ``full_ce`` when :func:`full_ce_bytes` is within ``cfg.full_ce_max_mb``
    (or that bound is None), else :data:`AUTO_SAMPLED`; any other loss is itself.
    """
    loss = SASRecLoss(cfg.loss)
    if loss != SASRecLoss.AUTO:
        return loss
    if cfg.full_ce_max_mb is None or full_ce_bytes(n_items, positions) <= cfg.full_ce_max_mb * 2**20:
        return SASRecLoss.FULL_CE
    return AUTO_SAMPLED


def resolve_config(cfg: Any, n_items: int, batch_size: int, max_len: int) -> Any:
    """``cfg`` with ``loss: auto`` replaced by what it resolves to; other configs unchanged."""
    if not isinstance(cfg, SASRecConfig) or SASRecLoss(cfg.loss) != SASRecLoss.AUTO:
        return cfg
    return dataclasses.replace(cfg, loss=resolve_loss(cfg, n_items, batch_size * max_len))


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def full_ce_problem(
    cfg: SASRecConfig, n_items: int, batch_size: int, max_len: int, device: str, device_bytes: int | None
) -> str | None:
    """One line when ``cfg`` trains full CE whose batch logits ``device`` cannot hold, else None.

    The catalogue is too large for full CE on a device when one batch's logits
    (:func:`full_ce_bytes`) exceed the device's memory: ``full_ce_max_mb`` would still compute
    them in chunks, but every step then costs a full pass over the catalogue per position,
    which is where the sampled losses train in a fraction of the time (``docs/recsys.md``).

    Args:
        cfg: the SASRec settings.
        n_items: the catalogue size N.
        batch_size, max_len: the training batch (P = batch_size x max_len positions).
        device: the training device, for the message.
        device_bytes: the memory the device has (None: unknown, nothing is checked).
    """
    if SASRecLoss(cfg.loss) != SASRecLoss.FULL_CE or device_bytes is None:
        return None
    need = full_ce_bytes(n_items, batch_size * max_len)
    if need <= device_bytes:
        return None
    return (
        f"a catalogue of {n_items:,} items is too large for SASRec's full cross-entropy on {device}: "
        f"one batch of {batch_size} x {max_len} positions needs {_gib(need)} of logits, the device has "
        f"{_gib(device_bytes)}; use loss: {SAMPLED_INSTEAD} (or loss: auto, which switches by itself)"
    )


def device_memory(device: str, gpu_share: float = 1.0) -> int:
    """Bytes a trial on ``device`` may use: this machine's RAM for ``cpu``; ``gpu_share`` of
    the first visible GPU for ``cuda``, or of :data:`CLUSTER_GPU_BYTES` where none is visible
    here (a cluster's head node plans for its GPU workers)."""
    if not str(device).startswith("cuda"):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import torch

    total = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else CLUSTER_GPU_BYTES
    return max(1, int(total * min(max(gpu_share, 0.0), 1.0)))


def check_full_ce(bench: Any, catalogues: Mapping[str, int], device: str, device_bytes: int | None) -> None:
    """Refuse a benchmark whose SASRec trains full CE on a catalogue its device cannot hold.

    Args:
        bench: the benchmark settings (``models``, ``models_params``, ``train``,
            ``models_train``, ``split``).
        catalogues: item counts of the datasets (e.g. GRE-B Table 1's), by name.
        device: where the trials train (``cuda`` when they get GPUs), for the message.
        device_bytes: see :func:`device_memory`.

    Raises:
        ConfigError: one line naming the largest such catalogue (see :func:`full_ce_problem`).
    """
    if "sasrec" not in [str(getattr(m, "value", m)) for m in bench.models] or not catalogues:
        return
    cfg = parse_model_config("sasrec", dict(bench.models_params.get("sasrec") or {}), "benchmark.models_params.sasrec")
    train = bench.train
    override = (bench.models_train or {}).get("sasrec")
    batch_size = getattr(override, "batch_size", None) or train.batch_size
    name, n_items = max(catalogues.items(), key=lambda kv: kv[1])
    problem = full_ce_problem(cfg, n_items, batch_size, bench.split.retrieval.max_len, device, device_bytes)
    if problem:
        raise ConfigError(f"benchmark: dataset {name}: {problem}")
