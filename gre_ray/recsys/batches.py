"""Numpy batches for the models, built from a split (see ``models/base.py`` for the keys).

Retrieval training rows are windows of ``max_len + 1`` training items, inputs
``seq = items[:-1]`` and next-item targets ``pos = items[1:]``, left-padded. Which targets
an epoch trains on (:class:`TrainPositions`):

* ``last`` — SASRec's original sampler (Kang & McAuley 2018): one window per user, their
  last ``max_len + 1`` training items, so a user with more than ``max_len + 1`` training
  items loses the older targets every epoch.
* ``all`` — every training target of every user, every epoch: windows end at the user's
  last training item and step back by ``stride`` (default ``max_len``); a window trains
  only its last ``stride`` targets (the earliest window all it has left), so each target is
  trained exactly once per epoch with at least ``max_len - stride`` items of context.
  ``stride = max_len`` gives disjoint windows (cheapest); ``stride = 1`` gives every
  target its own prefix of up to ``max_len`` items, RecBole's prefix augmentation.

Negatives shared by the whole batch (:class:`SharedNegatives`, for SASRec's
``shared_softmax`` and ``mixed_softmax``) are K items drawn with replacement with
probability proportional to ``(training count + 1) ** power``, from the same generator after
the batch's rows; the batch carries their ``log(K Q)`` for the logQ correction.

Per-position negatives come from :func:`sample_negatives`, avoiding the user's training
items (or uniform over all items, ``exclude_seen=False``, gSASRec's setting), drawn from
the caller's generator (seeded by the split seed, training seed and epoch only, so every
model and fusion sees the same stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gre_ray.recsys.models.base import CAND, CAND_LOGQ, HIST, ITEM, LABEL, NEG, POS, POS_LOGP, POS_LOGQ, SEQ, USER
from gre_ray.recsys.samples import SeenItems, sample_negatives
from gre_ray.recsys.sequences import left_pad_windows
from gre_ray.recsys.splits import Samples, Split, Stage
from gre_ray.recsys.train_config import TrainPositions

NumpyBatch = dict[str, np.ndarray]


def concat_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, flat indices) of the ranges ``[starts[u], ends[u])``."""
    lengths = np.maximum(ends - starts, 0)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    idx = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1] - starts, lengths)
    return indptr, idx


def train_windows(
    starts: np.ndarray, ends: np.ndarray, max_len: int, positions: TrainPositions, stride: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training windows of users whose training items are ``[starts[u], ends[u])``.

    Args:
        starts, ends: (U,) flat bounds of each user's training items.
        max_len: input length L (a window holds up to L + 1 items).
        positions: ``last`` or ``all`` (see the module docstring).
        stride: step between windows for ``all`` (None: L); at most L.

    Returns:
        ``user`` (W,), ``end`` (W,) one past the window's last item, and ``first`` (W,) the
        flat index of the window's first trained target; in user order, latest window first.
    """
    positions = TrainPositions(positions)
    stride = max_len if stride is None else int(stride)
    if not 1 <= stride <= max_len:
        raise ValueError(f"stride must be in [1, max_len={max_len}], got {stride}")
    n_targets = np.maximum(ends - starts - 1, 0)  # (U,)
    if positions == TrainPositions.LAST:
        user = np.flatnonzero(n_targets > 0)
        return user, ends[user], np.maximum(starts[user] + 1, ends[user] - max_len)
    n_windows = -(-n_targets // stride)  # ceil
    user = np.repeat(np.arange(len(starts)), n_windows)
    first_window = np.cumsum(n_windows) - n_windows
    k = np.arange(len(user)) - np.repeat(first_window, n_windows)  # window number, 0 = latest
    end = ends[user] - k * stride
    return user, end, np.maximum(starts[user] + 1, end - stride)


@dataclass(frozen=True)
class SharedNegatives:
    """K negatives per batch, drawn in proportion to ``(training count + 1) ** power``."""

    n: int
    power: float = 0.0


class RetrievalBatches:
    """Training batches and evaluation inputs of a leave-one-out split.

    Args:
        split: a ``retrieval`` split.
    """

    def __init__(self, split: Split) -> None:
        self.split = split
        self.max_len = split.config.max_len
        seq = split.sequences
        starts, ends = split.retrieval_window(Stage.TRAIN)
        self.train_starts, self.train_ends = starts, ends
        indptr, idx = concat_ranges(starts, ends)
        users = np.repeat(np.arange(seq.n_users), np.diff(indptr))
        self.seen = SeenItems(users, seq.items[idx], seq.n_users, seq.n_items)
        self.train_users = np.flatnonzero(ends - starts >= 2)  # users with at least one (input, target) pair
        self._windows: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.counts = np.bincount(seq.items[idx], minlength=seq.n_items + 1)[: seq.n_items + 1]  # (N + 1,)
        self._proposals: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def proposal(self, power: float) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative Q over items 1..N, log Q (N + 1,)) with Q proportional to (count + 1) ** power."""
        if power not in self._proposals:
            weight = (self.counts[1:] + 1.0) ** power
            q = weight / weight.sum()
            log_q = np.concatenate([[0.0], np.log(q)])
            self._proposals[power] = (np.cumsum(q), log_q)
        return self._proposals[power]

    def _shared(self, shared: SharedNegatives, pos: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        cdf, log_q = self.proposal(shared.power)
        cand = np.minimum(np.searchsorted(cdf, rng.random(shared.n) * cdf[-1], side="right"), len(cdf) - 1) + 1
        log_k = np.log(shared.n)
        _, log_p = self.proposal(1.0)
        return {
            CAND: cand.astype(np.int64),
            CAND_LOGQ: log_k + log_q[cand],
            POS_LOGQ: np.where(pos > 0, log_k + log_q[pos], 0.0),
            POS_LOGP: np.where(pos > 0, log_p[pos], 0.0),
        }

    def windows(
        self, positions: TrainPositions = TrainPositions.LAST, stride: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(user, end, first)`` of every training window (see :func:`train_windows`)."""
        key = (TrainPositions(positions), stride)
        if key not in self._windows:
            self._windows[key] = train_windows(self.train_starts, self.train_ends, self.max_len, *key)
        return self._windows[key]

    def n_targets(self, positions: TrainPositions = TrainPositions.LAST, stride: int | None = None) -> int:
        """Training targets (next-item predictions) in one epoch."""
        _, end, first = self.windows(positions, stride)
        return int((end - first).sum())

    def train(
        self,
        batch_size: int,
        n_negatives: int,
        rng: np.random.Generator,
        *,
        positions: TrainPositions = TrainPositions.LAST,
        stride: int | None = None,
        exclude_seen: bool = True,
        shared: SharedNegatives | None = None,
    ) -> Iterator[NumpyBatch]:
        """One epoch of shuffled batches with ``seq``, ``pos`` and (if n_negatives) ``neg``.

        Args:
            batch_size: windows per batch (one per user with ``last``).
            n_negatives: negatives per target (0: no ``neg`` key).
            rng: the epoch's generator (shuffling, then negatives batch by batch).
            positions, stride: which targets are trained (see the module docstring).
            exclude_seen: negatives avoid the user's training items; else uniform over 1..N.
            shared: also draw K negatives shared by the batch (``cand`` and the logQ keys).
        """
        items = self.split.sequences.items
        length = self.max_len + 1
        w_user, w_end, w_first = self.windows(positions, stride)
        order = rng.permutation(len(w_user))
        for a in range(0, len(order), batch_size):
            rows_ = order[a : a + batch_size]
            users, ends, first = w_user[rows_], w_end[rows_], w_first[rows_]
            window = left_pad_windows(items, self.train_starts[users], ends, length)
            seq, pos = window[:, :-1], window[:, 1:]  # (B, L) each
            target_idx = ends[:, None] - self.max_len + np.arange(self.max_len)[None, :]  # flat index of pos
            pos = np.where((seq > 0) & (target_idx >= first[:, None]), pos, 0)
            batch = {SEQ: seq, POS: pos}
            if n_negatives:
                neg = np.zeros(pos.shape + (n_negatives,), dtype=np.int64)  # (B, L, n)
                rows = np.nonzero(pos)
                if exclude_seen:
                    neg[rows] = sample_negatives(
                        rng, self.seen, users[rows[0]], n_negatives, dataset=self.split.dataset
                    )
                else:
                    neg[rows] = rng.integers(1, self.split.n_items + 1, size=(len(rows[0]), n_negatives))
                batch[NEG] = neg
            if shared is not None:
                batch.update(self._shared(shared, pos, rng))
            yield batch

    def evaluation(self, stage: Stage) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Inputs of full-ranking evaluation for ``valid`` or ``test``.

        Returns:
            ``seq`` (U, L) the input history, ``targets`` (U,), and the CSR
            (``mask_indptr`` (U + 1,), ``mask_items``) of every item the user saw before
            the target (training items; at test also the validation item).
        """
        seq = self.split.sequences
        starts, ends = self.split.retrieval_window(stage)
        inputs = left_pad_windows(seq.items, starts, ends, self.max_len)
        mask_indptr, idx = concat_ranges(starts, ends)
        return inputs, self.split.retrieval_targets(stage), mask_indptr, seq.items[idx]


def ranking_batch(split: Split, samples: Samples, idx: np.ndarray) -> NumpyBatch:
    """The ranking batch of samples ``idx``: ``user``, ``hist`` (B, L), ``item``, ``label``."""
    user = samples.user[idx]
    starts = split.sequences.indptr[user]
    hist = left_pad_windows(split.sequences.items, starts, samples.hist_end[idx], split.config.max_len)
    return {USER: user, HIST: hist, ITEM: samples.item[idx], LABEL: samples.label[idx]}


def ranking_batches(
    split: Split, stage: Stage, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[NumpyBatch]:
    """Batches of a ranking stage, shuffled when ``rng`` is given."""
    samples = split.samples[Stage(stage)]
    order = rng.permutation(len(samples)) if rng is not None else np.arange(len(samples))
    for a in range(0, len(order), batch_size):
        yield ranking_batch(split, samples, order[a : a + batch_size])


def to_tensors(batch: NumpyBatch, device: torch.device | str) -> dict[str, torch.Tensor]:
    """Move a numpy batch to ``device`` (int arrays → int64, float arrays → float32)."""
    out = {}
    for key, value in batch.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        tensor = tensor.long() if not tensor.is_floating_point() else tensor.float()
        out[key] = tensor.to(device, non_blocking=True)
    return out
