"""Trial keys: a hash of everything that determines a GRE-B trial's result, never a name.

A trial's result is fixed by the split it reads (its content fingerprint), the recommender
and every one of its settings, the embedding's *content* fingerprint (weights, encoder
settings and item texts: the embedding cache key of :mod:`gre_ray.embed.cache`), the
fusion, the seed, the revision the embedding model resolved to (a Hub commit, or a content
hash; :mod:`gre_ray.bench.identity`) and the version of the trial code. The key is computed from the whole
trial spec (:func:`gre_ray.bench.trials.make_spec`) minus a short list of fields that do
not change the result (names, file paths, thread counts), so a setting someone adds to
the spec later enters the key without anyone remembering to list it here.

Two keys: :func:`trial_key` identifies one trial's result in the results store;
:func:`settings_key` leaves out what varies *within* a grid (dataset, split, embedding,
fusion, seed), so the leaderboard can gather every stored trial that ran under the same
recommender settings.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump when a trial's result changes for the same spec (training loop, evaluation, fusion code).
TRIAL_CODE_VERSION = 1

# Fields of a spec that name or locate things, or only change speed: not part of the key.
NOT_DETERMINING = frozenset({
    "name", "scenario", "embedding", "split_path", "embedding_path", "torch_threads", "key", "store", "writer",
    "embedding_model", "embedding_parameters", "embedding_trained_on",
})
# Fields added after keys were first stored: left out while empty, so older keys still match.
OMITTED_WHEN_EMPTY = frozenset({"embedding_revision"})
# Fields that vary within one grid; the settings key leaves them out too.
GRID_AXES = frozenset({"dataset", "task", "split_fingerprint", "embedding_fingerprint", "embedding_revision", "fusion",
                       "seed", "protocol"})


def _digest(payload: dict[str, Any], length: int = 20) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _determining(spec: dict[str, Any]) -> dict[str, Any]:
    device = (spec.get("train") or {}).get("device")
    out = {k: v for k, v in spec.items() if k not in NOT_DETERMINING and not (k in OMITTED_WHEN_EMPTY and not v)}
    if device is not None:  # where a trial ran does not change what it measures
        out["train"] = {k: v for k, v in spec["train"].items() if k != "device"}
    return out


def trial_key(spec: dict[str, Any]) -> str:
    """The store key of one trial's result.

    Args:
        spec: a trial spec carrying ``split_fingerprint`` and ``embedding_fingerprint``
            (empty for ID-only trials).

    Raises:
        ValueError: the spec has no split fingerprint (a key without one would match a
            result measured on other data).
    """
    if not spec.get("split_fingerprint"):
        raise ValueError(f"trial {spec.get('name')!r}: no split_fingerprint, cannot key its result")
    if spec.get("fusion", "none") != "none" and not spec.get("embedding_fingerprint"):
        raise ValueError(f"trial {spec.get('name')!r}: a text trial needs its embedding_fingerprint")
    return _digest({"version": TRIAL_CODE_VERSION, **_determining(spec)})


def settings_key(spec: dict[str, Any]) -> str:
    """A hash of the recommender settings of a trial, without the grid's axes."""
    return _digest({k: v for k, v in _determining(spec).items() if k not in GRID_AXES}, 16)
