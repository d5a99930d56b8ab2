"""The spec of one GRE-B trial as it goes to Ray Tune: frozen, typed, and free of driver paths.

:func:`gre_ray.bench.trials.make_spec` assembles a trial's settings; :func:`checked` builds
a :class:`TrialSpec` from them through the config loader (an unknown or misspelt field, or
a value of the wrong type, is a ``ConfigError``) and refuses a split, embeddings file or
results store named by a bare local path: a trial may run on any node, so each is a URI
(:mod:`gre_ray.data.shared`). Tune's ``param_space`` then holds the spec's plain form
(:meth:`TrialSpec.plain`), which Tune logs and restores as JSON; the trial's driver
(:func:`gre_ray.bench.trial.run_trial`), the Tune wiring and the search read it back as a
:class:`TrialSpec` (:meth:`TrialSpec.of`) and use its attributes, so every default is the
one written here.

The plain form is what the results store, the trial keys (:mod:`gre_ray.bench.keys`) and
the results tables (:mod:`gre_ray.bench.results`, :mod:`gre_ray.bench.reuse`) read: Tune's
records of a trial, possibly written by an earlier version, which those modules take as
they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gre_ray.config.loader import build, to_dict
from gre_ray.data.shared import is_uri
from gre_ray.recsys.fusion_config import FusionMode
from gre_ray.recsys.models.base import Task
from gre_ray.recsys.text_vectors import MissingPolicy
from gre_ray.recsys.train_config import TrainConfig


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
        task: which split and metrics the model uses.
        train: the recommender's training settings (``device`` where it trains).
        Others: the identity, model, fusion and training settings of the trial.
    """

    name: str
    dataset: str
    scenario: str
    model: str
    task: Task
    embedding: str
    fusion: FusionMode
    seed: int
    lr: float
    dim: int
    split_path: str
    missing_text: MissingPolicy
    text_reduce: str
    model_params: dict[str, Any]
    train: TrainConfig
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


    @classmethod
    def of(cls, spec: TrialSpec | Mapping[str, Any]) -> TrialSpec:
        """``spec`` itself, or its plain form built back into a :class:`TrialSpec`.

        Raises:
            ConfigError: an unknown or misspelt field, or a value of the wrong type.
            ValueError: a file named by a local path.
        """
        if isinstance(spec, TrialSpec):
            return spec
        return build(cls, spec, prefix=f"trial {spec.get('name', '?')}")

    def plain(self) -> dict[str, Any]:
        """The JSON-ready form Tune carries, logs and restores (:meth:`of` reads it back)."""
        return to_dict(self)

    @property
    def on_gpu(self) -> bool:
        """Whether the trial trains on CUDA (Ray then gives it a GPU share)."""
        return self.train.device.startswith("cuda")


def checked(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` built into a :class:`TrialSpec` (raising ``ConfigError`` on a bad field or a
    local path) and returned in the plain form Tune carries."""
    return TrialSpec.of(spec).plain()


@dataclass(frozen=True)
class TrialRecord:
    """What the results tables and the store read of a trial's plain form, as Tune logged it.

    A record may come from a store written by an earlier gre_ray, or be a part of a spec (a
    placeholder line names only the embedding and dataset), so it is read as it is: known
    fields become attributes, absent ones keep these defaults, unknown ones are ignored.
    Building a :class:`TrialSpec` instead would refuse every record an older version wrote.
    """

    name: str = ""
    dataset: str = ""
    scenario: str = ""
    task: str = ""
    model: str = ""
    embedding: str = ""
    fusion: str = ""
    seed: int | None = None
    lr: float | None = None
    dim: int | None = None
    key: str = ""
    store: str = ""
    split_fingerprint: str = ""
    embedding_fingerprint: str = ""
    embedding_path: str = ""
    protocol: dict[str, Any] = field(default_factory=dict)
    embedding_model: str = ""
    embedding_revision: str = ""
    embedding_parameters: int | None = None
    embedding_trained_on: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, plain: Mapping[str, Any]) -> TrialRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in plain.items() if k in known and v is not None})

    def identity(self, columns: list[str]) -> dict[str, Any]:
        """The record's value of each results column (``trial`` is the trial's ``name``)."""
        return {c: getattr(self, "name" if c == "trial" else c) for c in columns}
