"""Find a tracking backend that cannot work before any trial or epoch runs.

Each check raises :class:`~gre_ray.errors.ConfigError` with one line naming the key: the
backend's package is not installed, the default MLflow store has no local run folder to
live in, an MLflow server does not answer, or W&B has no API key. Nothing is written.
"""

from __future__ import annotations

import importlib.util
import netrc
import os
import urllib.error
import urllib.request

from gre_ray.errors import ConfigError
from gre_ray.tracking.config import TrackingBackend, store_uri

SERVER_TIMEOUT_S = 5.0


def check_tracking(backend: TrackingBackend | str, tracking_uri: str, run_root: str, section: str) -> None:
    """Raise a one-line ``ConfigError`` when ``backend`` cannot log from this process.

    Args:
        backend: the selector.
        tracking_uri: the configured URI (MLflow; empty: the store under ``run_root``).
        run_root: the run folder.
        section: the config section, for the message (``benchmark``, ``contrastive``).
    """
    backend = TrackingBackend(backend)
    if backend is TrackingBackend.MLFLOW:
        _check_mlflow(tracking_uri, run_root, section)
    elif backend is TrackingBackend.WANDB:
        _check_wandb(section)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_mlflow(tracking_uri: str, run_root: str, section: str) -> None:
    if not _installed("mlflow"):
        raise ConfigError(f"{section}.tracking=mlflow: MLflow is not installed (pip install mlflow-skinny)")
    try:
        uri = store_uri(tracking_uri, run_root)
    except ValueError as exc:
        raise ConfigError(f"{section}.tracking=mlflow: {exc}, so the default store <run.root>/mlruns cannot "
                          f"live there; set {section}.tracking_uri (a local folder or an MLflow server URL)") from None
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=SERVER_TIMEOUT_S) as response:
                response.read(64)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"{section}.tracking_uri {uri}: the MLflow server cannot be reached ({reason})") from None
    elif uri.startswith("file://"):
        path = uri[len("file://"):]
        while path and not os.path.exists(path):
            path = os.path.dirname(path)
        if not os.access(path or ".", os.W_OK):
            raise ConfigError(f"{section}.tracking_uri {uri}: {path} is not writable")


def _check_wandb(section: str) -> None:
    if not _installed("wandb"):
        raise ConfigError(f"{section}.tracking=wandb: Weights & Biases is not installed (pip install wandb)")
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        return
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].split("/")[0]
        if netrc.netrc().authenticators(host):
            return
    except (OSError, netrc.NetrcParseError):
        pass
    raise ConfigError(f"{section}.tracking=wandb: no W&B API key (set WANDB_API_KEY or run `wandb login`)")
