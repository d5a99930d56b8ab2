"""Numpy batches for the models, built from a split (see ``models/base.py`` for the keys).

Retrieval training follows SASRec: each user contributes the last ``max_len + 1`` of their
training items, inputs ``seq = items[:-1]`` and next-item targets ``pos = items[1:]``,
left-padded. Per-position negatives come from :func:`sample_negatives`, avoiding the
user's training items, drawn from the caller's generator (seeded by the split seed,
training seed and epoch only, so every model and fusion sees the same stream).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from gre_ray.recsys.models.base import HIST, ITEM, LABEL, NEG, POS, SEQ, USER
from gre_ray.recsys.samples import SeenItems, sample_negatives
from gre_ray.recsys.sequences import left_pad_windows
from gre_ray.recsys.splits import Samples, Split, Stage

NumpyBatch = dict[str, np.ndarray]


def concat_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, flat indices) of the ranges ``[starts[u], ends[u])``."""
    lengths = np.maximum(ends - starts, 0)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    idx = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1] - starts, lengths)
    return indptr, idx


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

    def train(self, batch_size: int, n_negatives: int, rng: np.random.Generator) -> Iterator[NumpyBatch]:
        """One epoch of shuffled batches with ``seq``, ``pos`` and (if n_negatives) ``neg``."""
        items = self.split.sequences.items
        order = rng.permutation(self.train_users)
        for a in range(0, len(order), batch_size):
            users = order[a : a + batch_size]
            window = left_pad_windows(
                items, self.train_starts[users], self.train_ends[users], self.max_len + 1
            )
            seq, pos = window[:, :-1], window[:, 1:]  # (B, L) each
            pos = np.where(seq > 0, pos, 0)
            batch = {SEQ: seq, POS: pos}
            if n_negatives:
                neg = np.zeros(pos.shape + (n_negatives,), dtype=np.int64)  # (B, L, n)
                rows = np.nonzero(pos)
                neg[rows] = sample_negatives(
                    rng, self.seen, users[rows[0]], n_negatives, dataset=self.split.dataset
                )
                batch[NEG] = neg
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
