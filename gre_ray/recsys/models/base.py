"""The contract every recommender follows.

A model is an ``nn.Module`` that maps a batch (a dict of tensors) to scores and computes
its own training loss from a batch. It holds no optimizer and picks no device: the
training loop moves the model and the batches (nanoGPT's ``model.py`` split).

Batch keys:

* retrieval (SASRec, DSSM) — ``seq`` (B, L) left-padded item history; for training
  ``pos`` (B, L) the next item at each position (0 = no target) and ``neg`` (B, L, n)
  sampled negatives; for :meth:`RetrievalModel.forward` ``candidates`` (B, C). Losses with
  negatives shared by the batch get ``cand`` (K,) the shared negatives, ``cand_logq`` (K,)
  and ``pos_logq`` (B, L) ``log(K Q(item))`` under the proposal Q, and ``pos_logp`` (B, L)
  the log popularity share of each target.
* ranking (DIN, DeepFM) — ``user`` (B,), ``hist`` (B, L) left-padded history, ``item``
  (B,) target item, ``label`` (B,) float in {0, 1}.

Retrieval models score by a dot product of :meth:`RetrievalModel.user_vectors` and
:meth:`RetrievalModel.item_vectors`, which is what full-ranking evaluation chunks over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

SEQ, POS, NEG, CANDIDATES = "seq", "pos", "neg", "candidates"
CAND, CAND_LOGQ, POS_LOGQ, POS_LOGP = "cand", "cand_logq", "pos_logq", "pos_logp"
USER, HIST, ITEM, LABEL = "user", "hist", "item", "label"

Batch = dict[str, torch.Tensor]


class Task(str, Enum):
    RETRIEVAL = "retrieval"
    RANKING = "ranking"


class Recommender(nn.Module, ABC):
    """Base of all models: ``forward(batch) -> scores`` and ``loss(batch) -> scalar``."""

    task: ClassVar[Task]

    @abstractmethod
    def forward(self, batch: Batch) -> torch.Tensor:
        """Scores of the batch (shape depends on the task)."""

    @abstractmethod
    def loss(self, batch: Batch) -> torch.Tensor:
        """The scalar training loss of a batch."""


class RetrievalModel(Recommender):
    """A model that scores items by ``user_vectors(seq) @ item_vectors().T``."""

    task = Task.RETRIEVAL

    @property
    @abstractmethod
    def n_negatives(self) -> int:
        """Sampled negatives per position the loss needs in ``batch["neg"]`` (0: none)."""

    @property
    def negatives_exclude_seen(self) -> bool:
        """Whether sampled negatives avoid the user's training items (else uniform over all items)."""
        return True

    @abstractmethod
    def user_vectors(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded history → (B, D) user vectors."""

    @abstractmethod
    def item_vectors(self) -> torch.Tensor:
        """(N + 1, D) vectors of all items (row 0 padding)."""

    def forward(self, batch: Batch) -> torch.Tensor:
        """(B, C) scores of ``batch["candidates"]`` for the users of ``batch["seq"]``."""
        users = self.user_vectors(batch[SEQ])  # (B, D)
        items = self.item_vectors()[batch[CANDIDATES]]  # (B, C, D)
        return torch.einsum("bd,bcd->bc", users, items)


class RankingModel(Recommender):
    """A click-through-rate model: ``forward`` returns (B,) logits, the loss is BCE."""

    task = Task.RANKING

    def loss(self, batch: Batch) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self(batch), batch[LABEL])
