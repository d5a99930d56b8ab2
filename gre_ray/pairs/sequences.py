"""One domain's interactions → distinct-item user sequences in CSR form, with their bad input counted.

Rows are ordered per user by timestamp, ties broken by the original row order (a stable
sort), so the result does not depend on how a sort happens to break ties. A repeated
(user, item) keeps its first occurrence: co-occurrence counts *users*, |U_i ∩ U_j|, and a
window is measured in distinct items. Interactions with an item missing from the item
table are dropped and counted; users left with a single item are dropped and counted
(they make no pair).

A history longer than ``max_items_per_user`` is cut by sampling that many positions without
replacement (time order kept). The RNG of a user is seeded by (seed, CRC-32 of the user id),
so the sample does not depend on row order or on how users are sharded.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from gre_ray.pairs.arrays import first_occurrences, unique_sorted


@dataclass(frozen=True)
class UserSequences:
    """Per-user sequences of distinct dense item ids.

    Attributes:
        indptr: (U + 1,) int64 offsets; user ``u``'s items are ``items[indptr[u]:indptr[u + 1]]``.
        items: (nnz,) int32 dense item ids in ``[0, n_items)``, time-ordered per user.
        user_ids: (U,) the original user ids (object array of str).
        n_items: the size of the item vocabulary.
    """

    indptr: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def user_item_matrix(self) -> sp.csr_matrix:
        """(U, n_items) binary CSR matrix, int32 ones."""
        data = np.ones(len(self.items), dtype=np.int32)
        return sp.csr_matrix((data, self.items, self.indptr), shape=(self.n_users, self.n_items))

    def item_user_counts(self) -> np.ndarray:
        """|U_i| for every item: the number of users whose sequence holds it."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.int64)

    def slice_users(self, start: int, stop: int) -> "UserSequences":
        """Users ``start..stop-1`` as their own sequences (shares no state with ``self``)."""
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        return UserSequences(
            self.indptr[start : stop + 1] - lo, self.items[lo:hi].copy(), self.user_ids[start:stop], self.n_items
        )

    def shards(self, rows_per_shard: int) -> list["UserSequences"]:
        """Split into contiguous user ranges of about ``rows_per_shard`` items each (at least one)."""
        n_shards = max(1, -(-len(self.items) // rows_per_shard))
        cuts = np.searchsorted(self.indptr, np.linspace(0, len(self.items), n_shards + 1)[1:-1], side="left")
        bounds = unique_sorted(np.r_[0, cuts, self.n_users])
        return [self.slice_users(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class SequenceStats:
    """What :func:`build_sequences` set aside or changed (all counts of rows or users)."""

    interactions: int = 0
    unknown_item_rows: int = 0
    repeat_rows: int = 0
    users: int = 0
    single_item_users: int = 0
    capped_users: int = 0
    capped_rows_dropped: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


def item_index(item_col: pa.Array | pa.ChunkedArray, vocabulary: pa.Array) -> np.ndarray:
    """Dense id of every row's item in ``vocabulary`` (-1 where the item is unknown)."""
    idx = pc.index_in(item_col, value_set=vocabulary)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def build_sequences(
    user_col: pa.Array | pa.ChunkedArray,
    item_idx: np.ndarray,
    timestamps: np.ndarray,
    n_items: int,
) -> tuple[UserSequences, SequenceStats]:
    """Group rows into per-user, time-ordered sequences of distinct known items.

    Args:
        user_col: (R,) user ids (Arrow strings).
        item_idx: (R,) dense item ids, -1 for an unknown item (see :func:`item_index`).
        timestamps: (R,) int64 Unix seconds.
        n_items: the item vocabulary size.

    Returns:
        The sequences (users with at least two distinct items) and the counts of what was
        dropped on the way.
    """
    stats = SequenceStats(interactions=len(item_idx))
    encoded = pc.dictionary_encode(pa.chunked_array([user_col]) if isinstance(user_col, pa.Array) else user_col)
    encoded = encoded.combine_chunks()
    user_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)

    known = item_idx >= 0
    stats.unknown_item_rows = int((~known).sum())
    rows = np.flatnonzero(known)
    users, items, times = user_codes[rows], item_idx[rows], np.asarray(timestamps)[rows]
    order = _time_order(users, times, rows)
    users, items = users[order], items[order]

    first = first_occurrences(users * n_items + items)  # first of each (user, item), in time order
    stats.repeat_rows = len(users) - len(first)
    users, items = users[first], items[first]

    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(users)])
    multi = lengths >= 2
    stats.single_item_users = int((~multi).sum())
    stats.users = int(multi.sum())
    keep = np.repeat(multi, lengths)
    indptr = np.r_[0, np.cumsum(lengths[multi])].astype(np.int64)
    seqs = UserSequences(indptr, items[keep].astype(np.int32), names[users[starts[multi]]], n_items)
    return seqs, stats


def _time_order(users: np.ndarray, times: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Order of the rows by (user, timestamp, original row), with one stable sort when it fits."""
    if len(users) == 0:
        return np.zeros(0, dtype=np.int64)
    t0, span = int(times.min()), int(times.max()) - int(times.min()) + 1
    if (int(users.max()) + 1) * span < 2**62:
        return np.argsort(users * span + (times - t0), kind="stable")  # rows are in order already
    return np.lexsort((rows, times, users))


def cap_sequences(seqs: UserSequences, max_items: int, seed: int, stats: SequenceStats | None = None) -> UserSequences:
    """Cut every history longer than ``max_items`` to a seeded sample of its positions.

    Args:
        seqs: the sequences.
        max_items: the longest history kept.
        seed: base seed; user ``u`` samples with ``default_rng([seed, crc32(user_id)])``.
        stats: when given, ``capped_users`` and ``capped_rows_dropped`` are added to it.

    Returns:
        The capped sequences (``seqs`` itself when no history is too long).
    """
    lengths = seqs.lengths
    long_users = np.flatnonzero(lengths > max_items)
    if len(long_users) == 0:
        return seqs
    keep = np.ones(len(seqs.items), dtype=bool)
    for u in long_users:
        lo, n = int(seqs.indptr[u]), int(lengths[u])
        rng = np.random.default_rng([seed, zlib.crc32(str(seqs.user_ids[u]).encode())])
        drop = np.ones(n, dtype=bool)
        drop[rng.choice(n, max_items, replace=False)] = False
        keep[lo : lo + n] = ~drop
    new_lengths = np.minimum(lengths, max_items)
    if stats is not None:
        stats.capped_users += len(long_users)
        stats.capped_rows_dropped += int(len(seqs.items) - keep.sum())
    indptr = np.r_[0, np.cumsum(new_lengths)].astype(np.int64)
    return UserSequences(indptr, seqs.items[keep], seqs.user_ids, seqs.n_items)
