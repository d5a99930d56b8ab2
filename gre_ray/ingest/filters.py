"""Interaction filters on integer-coded arrays: rating, missing items, duplicates, k-core, order.

The driver holds a dataset's interactions as five narrow arrays (user code, item code,
timestamp, rating, file position: ~28 bytes a row, against ~1 KB a line of review JSON)
and filters them with numpy. Filters run in a fixed order and each reports how many rows
it removed, so the manifest accounts for every row:

1. ``below_min_rating``: explicit ratings under ``min_rating`` (implicit rows stay);
2. ``item_without_metadata``: the item has no valid metadata (quarantined or kept);
3. ``duplicate_pair``: repeated (user, item) pairs, keeping the first or last by time;
4. ``kcore``: the iterative k-core (Batagelj and Zaversnik, 2003, as used for the Amazon
   5-core sets): users with fewer than ``min_user_interactions`` and items with fewer than
   ``min_item_interactions`` kept interactions are removed until both conditions hold.

Dense ids number users and items by their first kept interaction in time (ties by file
order), and rows come out ordered by user, then time, then file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gre_ray.ingest.config import FilterSettings, KeepDuplicate, MissingItemPolicy


@dataclass
class FilterResult:
    """What the filters kept and removed.

    Attributes:
        rows: indices of the kept rows, in output order (user, time, file order).
        user_dense: dense user id of each output row.
        item_dense: dense item id of each output row.
        user_codes: input user code of each dense user id.
        item_codes: input item code of each dense item id.
        removed: rows removed per filter, in the order the filters ran.
        missing_item: rows whose item has no metadata, set aside for quarantine.
        kept_without_item: kept rows whose item has no metadata (policy ``keep``).
        kcore_rounds: passes the k-core needed to converge.
    """

    rows: np.ndarray
    user_dense: np.ndarray
    item_dense: np.ndarray
    user_codes: np.ndarray
    item_codes: np.ndarray
    removed: dict[str, int] = field(default_factory=dict)
    missing_item: np.ndarray | None = None
    kept_without_item: int = 0
    kcore_rounds: int = 0


def dedupe_mask(users: np.ndarray, items: np.ndarray, times: np.ndarray, order: np.ndarray, keep: KeepDuplicate) -> np.ndarray:
    """True for the rows that survive de-duplication of (user, item) pairs."""
    chrono = np.lexsort((order, times))
    mask = np.zeros(len(users), bool)
    mask[chrono] = _dedupe_chronological(users[chrono], items[chrono], keep)
    return mask


def _dedupe_chronological(users: np.ndarray, items: np.ndarray, keep: KeepDuplicate) -> np.ndarray:
    """:func:`dedupe_mask` for rows already in time order (ties by file order).

    One stable sort by the (user, item) pair packed into an int64 then groups each pair's
    rows in time order; this is the same order as a lexsort by (user, item, time, file
    order), at a fraction of its cost on 10 M rows.
    """
    n = len(users)
    if keep is KeepDuplicate.ALL or n == 0:
        return np.ones(n, bool)
    pair = users.astype(np.int64) * (int(items.max()) + 1) + items
    idx = np.argsort(pair, kind="stable")
    p = pair[idx]
    if keep is KeepDuplicate.FIRST:
        boundary = np.r_[True, p[1:] != p[:-1]]
    else:
        boundary = np.r_[p[1:] != p[:-1], True]
    mask = np.zeros(n, bool)
    mask[idx[boundary]] = True
    return mask


def k_core(users: np.ndarray, items: np.ndarray, min_user: int, min_item: int) -> tuple[np.ndarray, int]:
    """Mask of the rows in the (min_user, min_item)-core and the number of passes it took."""
    keep = np.ones(len(users), bool)
    if min_user <= 1 and min_item <= 1:
        return keep, 0
    n_users = int(users.max()) + 1 if len(users) else 0
    n_items = int(items.max()) + 1 if len(items) else 0
    rounds = 0
    while True:
        rounds += 1
        user_count = np.bincount(users[keep], minlength=n_users)
        item_count = np.bincount(items[keep], minlength=n_items)
        weak = keep & ((user_count[users] < min_user) | (item_count[items] < min_item))
        if not weak.any():
            return keep, rounds
        keep &= ~weak


def first_seen_ids(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids numbering ``codes`` by first appearance: (dense id per row, code per dense id).

    ``pandas.factorize`` numbers values in order of appearance with one hash pass, where
    sorting (``np.unique``) would cost O(n log n).
    """
    dense, by_first = pd.factorize(codes)
    return dense.astype(np.int64, copy=False), np.asarray(by_first, dtype=codes.dtype)


def apply_filters(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    ratings: np.ndarray,
    order: np.ndarray,
    has_item: np.ndarray | None,
    settings: FilterSettings,
) -> FilterResult:
    """Run the filters of the module docstring over one dataset's interactions.

    Args:
        users: user code per row (int).
        items: item code per row (int).
        times: Unix seconds per row.
        ratings: rating per row, NaN for implicit rows.
        order: file position per row (breaks timestamp ties).
        has_item: per item code, whether the item has metadata; None when the source
            has no item files.
        settings: the filter settings.

    Returns:
        The kept rows in output order with their dense ids, and the counts.
    """
    keep = np.ones(len(users), bool)
    removed: dict[str, int] = {}
    if settings.min_rating is not None:
        low = keep & ~np.isnan(ratings) & (ratings < settings.min_rating)
        removed["below_min_rating"] = int(low.sum())
        keep &= ~low
    missing = None
    kept_without_item = 0
    if has_item is not None:
        absent = keep & ~has_item[items]
        if settings.interactions_without_item is MissingItemPolicy.QUARANTINE:
            missing = absent
            keep &= ~absent
        else:
            kept_without_item = int(absent.sum())
    live = np.flatnonzero(keep)
    live = live[np.lexsort((order[live], times[live]))]  # time order (ties by file order), kept by every step below
    duplicate = ~_dedupe_chronological(users[live], items[live], settings.dedupe)
    removed["duplicate_pair"] = int(duplicate.sum())
    live = live[~duplicate]
    core, rounds = k_core(users[live], items[live], settings.min_user_interactions, settings.min_item_interactions)
    removed["kcore"] = int((~core).sum())
    by_time = live[core]

    user_dense, user_codes = first_seen_ids(users[by_time])
    item_dense, item_codes = first_seen_ids(items[by_time])
    final = np.argsort(user_dense, kind="stable")  # by user, then time, then file order
    if kept_without_item:
        kept_without_item = int((~has_item[items[by_time]]).sum())  # type: ignore[index]
    return FilterResult(
        rows=by_time[final],
        user_dense=user_dense[final],
        item_dense=item_dense[final],
        user_codes=user_codes,
        item_codes=item_codes,
        removed=removed,
        missing_item=missing,
        kept_without_item=kept_without_item,
        kcore_rounds=rounds,
    )
