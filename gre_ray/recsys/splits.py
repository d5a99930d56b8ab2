"""Deterministic train/validation/test splits shared by every model and embedding.

Three protocols, chosen by :class:`SplitKind`:

* ``retrieval`` — time-ordered leave-one-out per user (SASRec, Kang & McAuley 2018;
  BERT4Rec; RecBole): the last interaction is the test target, the second-to-last the
  validation target, the rest is training. Needs 3 interactions per user.
* ``ranking_implicit`` — every interaction at position ``p >= min_history`` is a positive
  whose history is the user's items before ``p``; each positive gets ``n_negatives`` items
  the user never interacted with, drawn once from a seeded generator. The last positive of
  each user is the test sample, the second-to-last the validation one (as in the DIN
  Amazon preprocessing, Zhou et al. 2018). Needs ``min_history + 3`` interactions.
* ``ranking_explicit`` — Goodreads/Yelp style: the label is ``rating >= rating_threshold``
  (the ``label`` column where the rating is null); each user's interactions are split in
  time order into train/validation/test by fractions. Needs 3 interactions.
* ``ranking_random`` / ``ranking_time`` — RecBole's CTR protocols (Zhao et al., "RecBole",
  CIKM 2021; ``eval_args: {split: {RS: [0.8, 0.1, 0.1]}, order: RO | TO, group_by: none}``):
  labels as ``ranking_explicit``, but the interactions of all users together are split
  1 - valid_frac - test_frac : valid_frac : test_frac (8:1:1 by default), either after a
  seeded random shuffle (``RO``) or in global time order (``TO``; ties by user order, then
  position). A sample's history is still its user's earlier interactions. Needs 1.

A user too short for the protocol is dropped and counted in :attr:`Split.stats`. A ranking
stage whose labels are all one class raises :class:`DataError` (AUC would be undefined),
as does a table with no usable user. Model selection only ever reads the validation stage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import cached_property

import numpy as np
import pandas as pd

from gre_ray.config.loader import coerce_fields
from gre_ray.errors import ConfigError, DataError
from gre_ray.recsys.samples import SeenItems, sample_negatives
from gre_ray.recsys.sequences import Sequences, build_sequences, dataset_name


class SplitKind(str, Enum):
    RETRIEVAL = "retrieval"
    RANKING_IMPLICIT = "ranking_implicit"
    RANKING_EXPLICIT = "ranking_explicit"
    RANKING_RANDOM = "ranking_random"
    RANKING_TIME = "ranking_time"


class Stage(str, Enum):
    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass(frozen=True)
class SplitConfig:
    """How to split one dataset.

    Attributes:
        kind: the protocol (see module docstring).
        max_len: the longest history a model sees (older items are cut off; masking at
            evaluation still uses the whole history).
        seed: seed of the negatives of ``ranking_implicit``.
        n_negatives: sampled negatives per positive (``ranking_implicit``).
        min_history: the fewest history items a positive needs (``ranking_implicit``).
        rating_threshold: ratings at or above it are positives (``ranking_explicit``).
        valid_frac: share of each user's interactions for validation (``ranking_explicit``).
        test_frac: share of each user's interactions for test (``ranking_explicit``).
    """

    kind: SplitKind = SplitKind.RETRIEVAL
    max_len: int = 50
    seed: int = 0
    n_negatives: int = 4
    min_history: int = 1
    rating_threshold: float = 4.0
    valid_frac: float = 0.1
    test_frac: float = 0.1

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.max_len < 1:
            raise ConfigError(f"split.max_len must be >= 1, got {self.max_len}")
        if self.n_negatives < 1:
            raise ConfigError(f"split.n_negatives must be >= 1, got {self.n_negatives}")
        if self.min_history < 0:
            raise ConfigError(f"split.min_history must be >= 0, got {self.min_history}")
        if not (0 < self.valid_frac and 0 < self.test_frac and self.valid_frac + self.test_frac <= 0.5):
            raise ConfigError(
                "split.valid_frac and split.test_frac must be positive with a sum of at most 0.5, "
                f"got {self.valid_frac} and {self.test_frac}"
            )

    @property
    def min_length(self) -> int:
        """The fewest interactions a user needs under this protocol."""
        if self.kind in (SplitKind.RANKING_RANDOM, SplitKind.RANKING_TIME):
            return 1
        return self.min_history + 3 if self.kind == SplitKind.RANKING_IMPLICIT else 3


@dataclass(frozen=True)
class Samples:
    """Ranking samples of one stage; the history of sample k is
    ``items[max(indptr[user[k]], hist_end[k] - max_len):hist_end[k]]``.

    Attributes:
        user: (M,) int64 dense user.
        hist_end: (M,) int64 flat index one past the last history item.
        item: (M,) int64 target item.
        label: (M,) float32 in {0, 1}.
    """

    user: np.ndarray
    hist_end: np.ndarray
    item: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Split:
    """A split: the sequences, the ranking samples per stage (empty for retrieval), stats."""

    dataset: str
    config: SplitConfig
    sequences: Sequences
    samples: dict[Stage, Samples] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> SplitKind:
        return self.config.kind

    @property
    def n_items(self) -> int:
        return self.sequences.n_items

    @property
    def n_users(self) -> int:
        return self.sequences.n_users

    @property
    def item_ids(self) -> np.ndarray:
        return self.sequences.item_ids

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the config and every array: equal splits have equal fingerprints."""
        digest = hashlib.sha256(json.dumps(config_dict(self.config), sort_keys=True).encode())
        seq = self.sequences
        digest.update("\0".join(map(str, seq.item_ids)).encode())
        digest.update("\0".join(map(str, seq.user_ids)).encode())
        for array in (seq.indptr, seq.items, seq.timestamps, seq.labels):
            digest.update(np.ascontiguousarray(array).tobytes())
        for stage in sorted(self.samples, key=lambda s: s.value):
            for array in asdict(self.samples[stage]).values():
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def retrieval_window(self, stage: Stage) -> tuple[np.ndarray, np.ndarray]:
        """(U,) start and end of each user's input history for ``stage`` (leave-one-out).

        Training and validation see the training items ``[start, end - 2)``; test also
        sees the validation item, ``[start, end - 1)``.
        """
        starts, ends = self.sequences.indptr[:-1], self.sequences.indptr[1:]
        return starts, ends - (1 if Stage(stage) == Stage.TEST else 2)

    def retrieval_targets(self, stage: Stage) -> np.ndarray:
        """(U,) the held-out item of each user for ``valid`` or ``test``."""
        if Stage(stage) == Stage.TRAIN:
            raise ValueError("leave-one-out has one target per user only for valid and test")
        _, ends = self.retrieval_window(stage)
        return self.sequences.items[ends]


def config_dict(config: SplitConfig) -> dict:
    """The config as JSON-ready values."""
    data = asdict(config)
    data["kind"] = config.kind.value
    return data


def make_split(
    interactions: pd.DataFrame,
    config: SplitConfig,
    dataset: str | None = None,
    catalogue: Iterable[str] | None = None,
) -> Split:
    """Build the split of ``interactions`` under ``config``.

    Args:
        interactions: a table in the interactions contract.
        config: the protocol and its parameters.
        dataset: name used in messages and stored with the split.
        catalogue: extra candidate item ids (e.g. the items table): full ranking and
            negative sampling then cover items nobody interacted with.

    Returns:
        The split; ``split.stats`` counts the users and interactions dropped.

    Raises:
        DataError: no usable user, unlabelled explicit rows, or a one-class ranking stage.
    """
    name = dataset_name(interactions, dataset)
    sequences, stats = build_sequences(
        interactions, min_length=config.min_length, dataset=name, catalogue=catalogue
    )
    if config.kind == SplitKind.RETRIEVAL:
        return Split(name, config, sequences, {}, stats)
    if config.kind == SplitKind.RANKING_IMPLICIT:
        samples = _implicit_samples(sequences, config, name)
    elif config.kind == SplitKind.RANKING_EXPLICIT:
        samples = _explicit_samples(sequences, config, name)
    else:
        samples = _global_samples(sequences, config, name)
    for stage, part in samples.items():
        stats[f"{stage.value}_samples"] = len(part)
        stats[f"{stage.value}_positives"] = int(part.label.sum())
        if len(part) == 0 or part.label.min() == part.label.max():
            raise DataError(
                f"dataset {name}: the {stage.value} stage has {len(part)} sample(s), all with "
                f"label {part.label[:1].tolist()}; AUC is undefined (check rating_threshold)"
            )
    return Split(name, config, sequences, samples, stats)


def _implicit_samples(seq: Sequences, config: SplitConfig, name: str) -> dict[Stage, Samples]:
    users = seq.user_of_position()
    offset = np.arange(len(seq.items)) - seq.indptr[users]  # position within the user
    from_end = seq.indptr[users + 1] - 1 - np.arange(len(seq.items))  # 0 = last item
    positive = offset >= config.min_history
    seen = SeenItems(users, seq.items, seq.n_users, seq.n_items)
    rng = np.random.default_rng(config.seed)
    out = {}
    for stage, select in (
        (Stage.TRAIN, positive & (from_end >= 2)),
        (Stage.VALID, from_end == 1),
        (Stage.TEST, from_end == 0),
    ):
        pos = np.flatnonzero(select)
        neg = sample_negatives(rng, seen, users[pos], config.n_negatives, dataset=name)  # (P, n)
        k = config.n_negatives
        out[stage] = Samples(
            user=np.concatenate([users[pos], np.repeat(users[pos], k)]),
            hist_end=np.concatenate([pos, np.repeat(pos, k)]).astype(np.int64),
            item=np.concatenate([seq.items[pos], neg.reshape(-1)]),
            label=np.concatenate([np.ones(len(pos), np.float32), np.zeros(len(pos) * k, np.float32)]),
        )
    return out


def _explicit_labels(seq: Sequences, config: SplitConfig, name: str) -> np.ndarray:
    """(nnz,) 0/1 labels: ``rating >= rating_threshold``, the ``label`` column where the rating is null."""
    labels = np.where(
        np.isnan(seq.ratings), seq.labels, (seq.ratings >= config.rating_threshold).astype(np.int8)
    )
    unlabelled = int((labels < 0).sum())
    if unlabelled:
        raise DataError(
            f"dataset {name}: {unlabelled} interaction(s) have neither a rating nor a label, "
            "so an explicit-feedback ranking split cannot label them"
        )
    return labels


def _global_samples(seq: Sequences, config: SplitConfig, name: str) -> dict[Stage, Samples]:
    """RecBole's CTR split of all interactions at once, in random or global time order."""
    labels = _explicit_labels(seq, config, name)
    n = len(seq.items)
    if config.kind == SplitKind.RANKING_RANDOM:
        order = np.random.default_rng(config.seed).permutation(n)
    else:
        order = np.lexsort((np.arange(n), seq.timestamps))  # stable: ties keep user, then position order
    n_test = int(round(n * config.test_frac))
    n_valid = int(round(n * config.valid_frac))
    n_train = n - n_valid - n_test
    users = seq.user_of_position()
    out = {}
    for stage, idx in (
        (Stage.TRAIN, order[:n_train]),
        (Stage.VALID, order[n_train : n_train + n_valid]),
        (Stage.TEST, order[n_train + n_valid :]),
    ):
        idx = np.sort(idx)
        out[stage] = Samples(
            user=users[idx], hist_end=idx.astype(np.int64), item=seq.items[idx], label=labels[idx].astype(np.float32)
        )
    return out


def _explicit_samples(seq: Sequences, config: SplitConfig, name: str) -> dict[Stage, Samples]:
    labels = _explicit_labels(seq, config, name)
    lengths = seq.lengths
    n_test = np.maximum(1, np.floor(lengths * config.test_frac)).astype(np.int64)
    n_valid = np.maximum(1, np.floor(lengths * config.valid_frac)).astype(np.int64)
    users = seq.user_of_position()
    from_end = seq.indptr[users + 1] - 1 - np.arange(len(seq.items))
    is_test = from_end < n_test[users]
    is_valid = ~is_test & (from_end < (n_test + n_valid)[users])
    out = {}
    for stage, select in (
        (Stage.TRAIN, ~is_test & ~is_valid),
        (Stage.VALID, is_valid),
        (Stage.TEST, is_test),
    ):
        idx = np.flatnonzero(select)
        out[stage] = Samples(
            user=users[idx],
            hist_end=idx.astype(np.int64),
            item=seq.items[idx],
            label=labels[idx].astype(np.float32),
        )
    return out
