"""Interactions → per-user, time-ordered item sequences with dense integer ids.

Every split starts here. The interactions table (the project contract of
``gre_ray.data.schema``: ``domain``, ``user_id``, ``item_id``, ``timestamp``, ``rating``,
``label``) is sorted per user by time, ties in ``timestamp`` broken stably by the original
row order, and stored in CSR form: ``items[indptr[u]:indptr[u + 1]]`` is user ``u``'s
sequence. Users are numbered 0..U-1 and items 1..N in the sorted order of their string ids,
so the numbering does not depend on row order; item 0 is padding.

Users shorter than the split needs are dropped here and counted in the returned stats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gre_ray.errors import DataError

REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True)
class Sequences:
    """Per-user item sequences in CSR form.

    Attributes:
        user_ids: (U,) original user ids; dense user ``u`` is ``user_ids[u]``.
        item_ids: (N,) original item ids; dense item ``i`` (1-based) is ``item_ids[i - 1]``.
        indptr: (U + 1,) int64 offsets into the flat arrays.
        items: (nnz,) int64 dense item ids in 1..N, time-ordered within each user.
        timestamps: (nnz,) int64 Unix seconds.
        ratings: (nnz,) float32, NaN where the rating is null.
        labels: (nnz,) int8, -1 where the label is null.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    indptr: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    ratings: np.ndarray
    labels: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def lengths(self) -> np.ndarray:
        """(U,) number of interactions per user."""
        return np.diff(self.indptr)

    def user_of_position(self) -> np.ndarray:
        """(nnz,) the dense user of each flat position."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)


def dataset_name(interactions: pd.DataFrame, dataset: str | None) -> str:
    """The name used in messages: ``dataset`` if given, else the table's domain value(s)."""
    if dataset:
        return dataset
    if "domain" in interactions.columns and len(interactions):
        domains = sorted(map(str, interactions["domain"].dropna().unique()))
        if domains:
            return "+".join(domains[:3]) + ("+..." if len(domains) > 3 else "")
    return "<interactions>"


def _check_columns(interactions: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in interactions.columns]
    if missing:
        raise DataError(
            f"dataset {name}: interactions lack column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, interactions.columns)) or 'no columns'})"
        )
    if len(interactions) == 0:
        raise DataError(f"dataset {name}: the interactions table is empty")
    for column in REQUIRED_COLUMNS:
        nulls = int(interactions[column].isna().sum())
        if nulls:
            raise DataError(f"dataset {name}: column {column!r} has {nulls} null value(s)")
    if not pd.api.types.is_integer_dtype(interactions["timestamp"]):
        raise DataError(
            f"dataset {name}: column 'timestamp' is {interactions['timestamp'].dtype}, "
            "expected integer Unix seconds"
        )


def build_sequences(
    interactions: pd.DataFrame,
    *,
    min_length: int,
    dataset: str | None = None,
    catalogue: Iterable[str] | None = None,
) -> tuple[Sequences, dict[str, int]]:
    """Sort interactions per user by time and keep users with at least ``min_length`` of them.

    Args:
        interactions: a table in the interactions contract (extra columns are ignored).
        min_length: the fewest interactions a user needs for the split being built.
        dataset: name used in error messages (defaults to the domain column).
        catalogue: item ids that are candidates even without a kept interaction (e.g. the
            items table); the item universe is their union with the interacted items.

    Returns:
        The sequences and stats: ``users_in``, ``users_dropped``, ``interactions_in``,
        ``interactions_dropped``, ``users``, ``items``, ``interactions``.

    Raises:
        DataError: a required column is missing or null, the table is empty, or no user
            has ``min_length`` interactions.
    """
    name = dataset_name(interactions, dataset)
    _check_columns(interactions, name)
    user_codes, user_uniques = pd.factorize(interactions["user_id"].astype(str), sort=True)
    timestamps = interactions["timestamp"].to_numpy(np.int64)
    row = np.arange(len(interactions), dtype=np.int64)
    order = np.lexsort((row, timestamps, user_codes))  # stable: ties keep row order
    counts = np.bincount(user_codes, minlength=len(user_uniques))
    keep_user = counts >= min_length
    keep_row = keep_user[user_codes[order]]
    order = order[keep_row]
    stats = {
        "users_in": int(len(user_uniques)),
        "users_dropped": int((~keep_user).sum()),
        "interactions_in": int(len(interactions)),
        "interactions_dropped": int(len(interactions) - len(order)),
    }
    if len(order) == 0:
        raise DataError(
            f"dataset {name}: no user has the {min_length} interactions the split needs "
            f"(all {stats['users_in']} users dropped)"
        )
    item_codes, item_uniques = pd.factorize(interactions["item_id"].astype(str).to_numpy()[order], sort=True)
    if catalogue is not None:
        extra = pd.Index(np.asarray(list(catalogue), dtype=object)).astype(str)
        universe = pd.Index(item_uniques).union(extra).sort_values()  # still in sorted string order
        item_codes = universe.get_indexer(item_uniques)[item_codes]
        item_uniques = universe.to_numpy(dtype=object)
    kept_counts = counts[keep_user]
    indptr = np.zeros(len(kept_counts) + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=indptr[1:])
    ratings = (
        interactions["rating"].to_numpy(np.float32, na_value=np.nan)[order]
        if "rating" in interactions.columns
        else np.full(len(order), np.nan, np.float32)
    )
    labels = (
        interactions["label"].fillna(-1).to_numpy(np.int8)[order]
        if "label" in interactions.columns
        else np.full(len(order), -1, np.int8)
    )
    sequences = Sequences(
        user_ids=np.asarray(user_uniques, dtype=object)[keep_user],
        item_ids=np.asarray(item_uniques, dtype=object),
        indptr=indptr,
        items=item_codes.astype(np.int64) + 1,
        timestamps=timestamps[order],
        ratings=ratings,
        labels=labels,
    )
    stats.update(users=sequences.n_users, items=sequences.n_items, interactions=len(order))
    return sequences, stats


def left_pad_windows(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """The last ``length`` items of each slice ``items[start:end]``, left-padded with 0.

    Args:
        items: (nnz,) flat item array.
        starts: (M,) first allowed index of each slice.
        ends: (M,) one past the last index of each slice.
        length: window length L.

    Returns:
        (M, L) int64; row m ends with ``items[ends[m] - 1]``.
    """
    if len(items) == 0:
        return np.zeros((len(ends), length), dtype=np.int64)
    idx = ends[:, None] - length + np.arange(length)[None, :]  # (M, L)
    valid = idx >= starts[:, None]
    return np.where(valid, items[np.clip(idx, 0, len(items) - 1)], 0).astype(np.int64)
