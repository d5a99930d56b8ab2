"""The tracking selector shared by the ``benchmark`` section and the training stages.

``tracking: none | mlflow | wandb`` with ``tracking_uri`` (MLflow: a store URI or server
URL, empty for ``<run.root>/mlruns``; W&B: unused) and ``tracking_experiment`` (the MLflow
experiment or W&B project). Where the metrics go changes nothing a stage writes, so the
stages list these keys among their speed settings (:data:`TRACKING_KEYS`).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

STORE_DIR = "mlruns"
TRACKING_KEYS = ("tracking", "tracking_uri", "tracking_experiment")


class TrackingBackend(str, enum.Enum):
    """Where per-epoch and test metrics are logged besides the run folder."""

    NONE = "none"
    MLFLOW = "mlflow"
    WANDB = "wandb"


def default_store(run_root: str) -> str:
    """The MLflow file store under a local run folder: ``file://<run.root>/mlruns``.

    Raises:
        ValueError: ``run_root`` is a URI (an object store holds no MLflow file store).
    """
    if "://" in run_root and not run_root.startswith("file://"):
        raise ValueError(f"run.root {run_root!r} is not a local folder")
    path = run_root[len("file://"):] if run_root.startswith("file://") else run_root
    return (Path(os.path.abspath(path)) / STORE_DIR).as_uri()


def store_uri(tracking_uri: str, run_root: str) -> str:
    """The MLflow tracking URI: ``tracking_uri`` when set (a bare path becomes ``file://``),
    else :func:`default_store` of the run folder."""
    if not tracking_uri:
        return default_store(run_root)
    if "://" in tracking_uri or tracking_uri.startswith("databricks"):
        return tracking_uri
    return Path(os.path.abspath(tracking_uri)).as_uri()
