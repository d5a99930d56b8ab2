"""The spec of one GRE-B trial as it goes to Ray Tune: frozen, typed, and free of driver paths.

:func:`gre_ray.bench.trials.make_spec` assembles a trial's settings; :func:`checked` builds
a :class:`TrialSpec` from them through the config loader (an unknown or misspelt field, or
a value of the wrong type, is a ``ConfigError``) and refuses a split, embeddings file or
results store named by a bare local path: a trial may run on any node, so each is a URI
(:mod:`gre_ray.data.shared`). Tune's ``param_space`` then holds the spec's plain form
(:func:`gre_ray.config.loader.to_dict`), which Tune logs and restores as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gre_ray.config.loader import build, to_dict
from gre_ray.data.shared import is_uri


@dataclass(frozen=True)
class TrialSpec:
    """One trial: what to train, on which split, with which vectors (see :func:`gre_ray.bench.trial.run_trial`).

    Attributes:
        split_path: URI of the saved split.
        embedding_path: URI of the item embeddings ("" for ID-only).
        store: URI of the results store the trial appends to when it finishes ("" for none).
        key: the trial's content key (:func:`gre_ray.bench.keys.trial_key`).
        embedding_model, embedding_revision, embedding_parameters, embedding_trained_on:
            the embedding's identity (:mod:`gre_ray.bench.identity`); the revision enters the key.
        Others: the identity, model, fusion and training settings of the trial.
    """

    name: str
    dataset: str
    scenario: str
    model: str
    task: str
    embedding: str
    fusion: str
    seed: int
    lr: float
    dim: int
    split_path: str
    missing_text: str
    text_reduce: str
    model_params: dict[str, Any]
    train: dict[str, Any]
    embedding_path: str = ""
    text_reduce_dim: int | None = None
    torch_threads: int = 1
    split_fingerprint: str = ""
    embedding_fingerprint: str = ""
    protocol: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    store: str = ""
    embedding_model: str = ""
    embedding_revision: str = ""
    embedding_parameters: int | None = None
    embedding_trained_on: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("split_path", "embedding_path", "store"):
            value = getattr(self, name)
            if value and not is_uri(value):
                raise ValueError(
                    f"{name} {value!r} is not a URI: a trial may run on any node, so it names files by URI "
                    "(s3://..., gs://..., or file://... for a folder every node mounts)"
                )


def checked(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` built into a :class:`TrialSpec` (raising ``ConfigError`` on a bad field or a
    local path) and returned in the plain form Tune carries."""
    return to_dict(build(TrialSpec, spec, prefix=f"trial {spec.get('name', '?')}"))
