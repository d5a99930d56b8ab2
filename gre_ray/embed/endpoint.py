"""Vectors from an OpenAI-compatible ``/v1/embeddings`` endpoint (a hosted API, a vLLM or TEI server).

Requests follow the OpenAI embeddings API: ``POST <url>/embeddings`` with
``{"model": ..., "input": [texts]}``; the answer's ``data`` holds one ``embedding`` per
input with its ``index``. Texts go ``batch_size`` to a request, ``concurrency`` requests
in flight at once. A request that fails for a reason that may pass (no connection, a
timeout, HTTP 429 or 5xx, an unreadable answer) is retried with exponential backoff (at
least the server's ``Retry-After``); when the attempts are spent, or at once for a
refusal (401, 403, other 4xx), one line names the endpoint, the model, the texts and the
HTTP status.

The bearer token comes from the environment only: the variable ``api_key_env`` names
(``--api-key-env``), else ``OPENAI_API_KEY`` when set; it is never put in a config, a
message or a log. Servers reject empty inputs, so an item without text is sent as
:data:`PLACEHOLDER` and counted (the cache entry's manifest records how many).

The fingerprint of endpoint vectors (the embedding cache key and, through it, the trial
keys) hashes the endpoint's URL and model name, the prompt, the Matryoshka dimension, the
normalisation and the texts: the weights behind an API are not ours to hash, so a provider
that changes a model under the same name is the one case a name has to stand for content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
import urllib.request
from typing import Sequence

import numpy as np

from gre_ray.embed.config import EndpointConfig
from gre_ray.errors import DataError

log = logging.getLogger("gre_ray")
ENDPOINT_VERSION = 2  # 2: the normalisation and the placeholder of empty texts enter the key
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDER = "(no text)"


def endpoint_fingerprint(config: EndpointConfig, prefix: str, dim: int | None, texts: str,
                         normalize: bool = True) -> str:
    """The content key of the vectors of ``texts`` (a texts fingerprint) from this endpoint."""
    payload = {"version": ENDPOINT_VERSION, "url": config.url.rstrip("/"), "model": config.model,
               "prefix": prefix, "dim": dim, "texts": texts, "normalize": normalize, "placeholder": PLACEHOLDER}
    return "api-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _post(config: EndpointConfig, texts: list[str]) -> list[list[float]]:
    body = json.dumps({"model": config.model, "input": texts}).encode()
    headers = {"Content-Type": "application/json"}
    token = api_key(config)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(config.url.rstrip("/") + "/embeddings", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
        answer = json.loads(response.read().decode("utf-8"))
    rows = sorted(answer["data"], key=lambda d: d["index"])
    if len(rows) != len(texts):
        raise ValueError(f"{len(rows)} embeddings for {len(texts)} inputs")
    return [row["embedding"] for row in rows]


def api_key(config: EndpointConfig) -> str:
    """The bearer token: from the variable ``api_key_env`` names, else ``OPENAI_API_KEY`` (may be empty).

    Raises:
        DataError: ``api_key_env`` names a variable that is not set (its name, never a value).
    """
    if config.api_key_env:
        token = os.environ.get(config.api_key_env, "")
        if not token:
            raise DataError(f"endpoint {config.url} (model {config.model}): environment variable "
                            f"{config.api_key_env} is not set")
        return token
    return os.environ.get(DEFAULT_KEY_ENV, "")


def _retry_after(exc: Exception) -> float:
    """The server's ``Retry-After`` in seconds (0 when absent or not a number)."""
    headers = getattr(exc, "headers", None)
    try:
        return float(headers.get("Retry-After", 0)) if headers is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return True  # connection refused, timeouts, unreadable answers


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        hint = f" (set {DEFAULT_KEY_ENV} or name the key's variable with --api-key-env)" if exc.code in (401, 403) else ""
        return f"HTTP {exc.code} {exc.reason}{hint}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def request_batch(config: EndpointConfig, texts: list[str], what: str = "") -> list[list[float]]:
    """The vectors of one batch, retried with backoff.

    Raises:
        DataError: the endpoint refused the request, or failed every attempt (one line).
    """
    attempts = config.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return _post(config, texts)
        except DataError:
            raise
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            if not _retryable(exc) or attempt == attempts:
                raise DataError(
                    f"endpoint {config.url} (model {config.model}){what}: failed after {attempt} attempt(s): "
                    f"{_reason(exc)}"
                ) from None
            wait = max(config.backoff_s * 2 ** (attempt - 1), min(_retry_after(exc), 60.0))
            log.warning("endpoint %s (model %s): %s; retrying in %.1fs", config.url, config.model, _reason(exc), wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def without_empty(texts: Sequence[str]) -> tuple[list[str], int]:
    """``texts`` with each empty or blank one replaced by :data:`PLACEHOLDER`, and how many were."""
    out = [t if t and t.strip() else PLACEHOLDER for t in texts]
    return out, sum(1 for t in texts if not (t and t.strip()))


def embed_texts(config: EndpointConfig, texts: Sequence[str], prefix: str = "", dim: int | None = None,
                normalize: bool = True) -> np.ndarray:
    """(rows, dim) float32 vectors of ``texts`` from the endpoint, in their order.

    Args:
        config: the endpoint (``batch_size`` texts a request, ``concurrency`` requests at once).
        texts: item texts (an empty one is sent as :data:`PLACEHOLDER`); ``prefix`` is put before each.
        dim: Matryoshka dimension (truncate, then renormalise).
        normalize: L2-normalise the vectors.

    Raises:
        DataError: a failing endpoint, or answers whose dimension varies.
    """
    texts, _ = without_empty(texts)
    starts = list(range(0, len(texts), config.batch_size))

    def one(start: int) -> list[list[float]]:
        batch = [prefix + t for t in texts[start : start + config.batch_size]]
        return request_batch(config, batch, f", texts {start}-{start + len(batch) - 1}")

    out: list[list[float]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(config.concurrency, len(starts) or 1))) as pool:
        for vectors in pool.map(one, starts):  # in order; the first failure is raised here
            out += vectors
    widths = {len(v) for v in out}
    if len(widths) > 1:
        raise DataError(f"endpoint {config.url}: embeddings of varying dimension {sorted(widths)}")
    matrix = np.asarray(out, dtype=np.float32).reshape(len(out), -1)
    if dim is not None:
        if dim > matrix.shape[1]:
            raise DataError(f"endpoint {config.url}: dim {dim} exceeds its embedding dimension {matrix.shape[1]}")
        matrix = matrix[:, :dim]
    if normalize:
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return matrix
