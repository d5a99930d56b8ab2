"""Interaction filters: k-core against a hand-computed example, de-duplication, ratings, dense ids."""

from __future__ import annotations

import numpy as np

from gre_ray.ingest.config import FilterSettings, KeepDuplicate, MissingItemPolicy
from gre_ray.ingest.filters import apply_filters, dedupe_mask, first_seen_ids, k_core


def test_k_core_cascades_like_the_hand_computation():
    # u0: i0 i1 i2 | u1: i0 i1 | u2: i0 i3 | u3: i3, with (2, 2)-core:
    # pass 1 drops u3-i3 (u3 has 1) and u0-i2 (i2 has 1); pass 2 drops u2-i3 (i3 now has 1);
    # pass 3 drops u2-i0 (u2 now has 1); pass 4 finds nothing: the core is u0, u1 x i0, i1.
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    items = np.array([0, 1, 2, 0, 1, 0, 3, 3])
    keep, rounds = k_core(users, items, 2, 2)
    assert keep.tolist() == [True, True, False, True, True, False, False, False]
    assert rounds == 4
    keep, rounds = k_core(users, items, 1, 1)
    assert keep.all() and rounds == 0
    keep, _ = k_core(users, items, 3, 1)  # users only: u0 alone has 3
    assert keep.tolist() == [True, True, True, False, False, False, False, False]


def test_dedupe_keeps_first_or_last_by_time_then_file_order():
    users = np.array([0, 0, 0, 1])
    items = np.array([5, 5, 5, 5])
    times = np.array([20, 10, 10, 1])
    order = np.array([0, 1, 2, 3])
    assert dedupe_mask(users, items, times, order, KeepDuplicate.FIRST).tolist() == [False, True, False, True]
    assert dedupe_mask(users, items, times, order, KeepDuplicate.LAST).tolist() == [True, False, False, True]
    assert dedupe_mask(users, items, times, order, KeepDuplicate.ALL).all()


def test_dense_ids_follow_first_appearance():
    dense, codes = first_seen_ids(np.array([7, 3, 7, 9, 3]))
    assert dense.tolist() == [0, 1, 0, 2, 1]
    assert codes.tolist() == [7, 3, 9]


def test_apply_filters_counts_every_removed_row_and_orders_output():
    users = np.array([0, 0, 1, 1, 1, 2])
    items = np.array([0, 1, 0, 0, 2, 1])
    times = np.array([30, 10, 5, 6, 7, 1])
    ratings = np.array([5.0, 1.0, np.nan, 4.0, 3.0, 5.0])
    order = np.arange(6)
    has_item = np.array([True, True, False])
    settings = FilterSettings(min_rating=2.0, min_user_interactions=1)
    result = apply_filters(users, items, times, ratings, order, has_item, settings)
    # row 1 is rated 1 < 2; row 4's item 2 has no metadata; row 3 repeats (user 1, item 0)
    assert result.removed == {"below_min_rating": 1, "duplicate_pair": 1, "kcore": 0}
    assert result.missing_item.tolist() == [False, False, False, False, True, False]
    assert result.rows.tolist() == [5, 2, 0]  # by dense user (first seen in time: user 2, user 1, user 0)
    assert result.user_dense.tolist() == [0, 1, 2]
    assert result.item_codes.tolist() == [1, 0]
    kept = apply_filters(users, items, times, ratings, order, has_item,
                         FilterSettings(interactions_without_item=MissingItemPolicy.KEEP))  # fmt: skip
    assert kept.missing_item is None and kept.kept_without_item == 1
