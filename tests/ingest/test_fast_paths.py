"""The driver's vectorised ingest paths give exactly what the plain ones (before #17) gave.

The plain paths are kept here as references: a Python dict numbering ids in order of first
sight, and the lexsort/np.unique filters. Random inputs with many ties (equal times, equal
file positions, repeated pairs, empty batches) exercise every tie-break.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gre_ray.ingest.config import FilterSettings, KeepDuplicate, MissingItemPolicy
from gre_ray.ingest.filters import apply_filters, k_core
from gre_ray.ingest.staging import IdEncoder


def _plain_encode(batches: list[list[str]]) -> tuple[list[list[int]], list[str]]:
    index: dict[str, int] = {}
    codes = [[index.setdefault(value, len(index)) for value in batch] for batch in batches]
    return codes, list(index)


def test_id_encoder_equals_a_dict_in_order_of_first_sight():
    rng = np.random.default_rng(3)
    pool = [f"A{n:05d}" for n in range(300)]
    batches = [[pool[k] for k in rng.integers(0, 300, size)] for size in (50, 0, 200, 1, 0, 400, 120)]
    encoder = IdEncoder()
    for n, batch in enumerate(batches):
        array = pa.array(batch, pa.string())
        encoder.add(pa.chunked_array([array[:3], array[3:]]) if n % 2 else array)
    codes, values = encoder.finish()
    want_codes, want_values = _plain_encode(batches)
    assert [c.tolist() for c in codes] == want_codes
    assert all(c.dtype == np.int32 for c in codes)
    assert values.to_pylist() == want_values


def _plain_filters(users, items, times, ratings, order, has_item, settings: FilterSettings):
    """apply_filters as it was before #17: lexsorts and np.unique."""

    def first_seen(codes):
        unique, first = np.unique(codes, return_index=True)
        rank = np.empty(len(unique), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(unique))
        return rank[np.searchsorted(unique, codes)], unique[np.argsort(first, kind="stable")]

    keep = np.ones(len(users), bool)
    if settings.min_rating is not None:
        keep &= ~(~np.isnan(ratings) & (ratings < settings.min_rating))
    if has_item is not None and settings.interactions_without_item is MissingItemPolicy.QUARANTINE:
        keep &= has_item[items]
    live = np.flatnonzero(keep)
    if settings.dedupe is not KeepDuplicate.ALL and len(live):
        idx = np.lexsort((order[live], times[live], items[live], users[live]))
        u, i = users[live][idx], items[live][idx]
        change = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
        boundary = np.r_[True, change] if settings.dedupe is KeepDuplicate.FIRST else np.r_[change, True]
        mask = np.zeros(len(live), bool)
        mask[idx[boundary]] = True
        live = live[mask]
    core, _ = k_core(users[live], items[live], settings.min_user_interactions, settings.min_item_interactions)
    live = live[core]
    by_time = live[np.lexsort((order[live], times[live]))]
    user_dense, user_codes = first_seen(users[by_time])
    item_dense, item_codes = first_seen(items[by_time])
    final = np.lexsort((order[by_time], times[by_time], user_dense))
    return by_time[final], user_dense[final], item_dense[final], user_codes, item_codes


@pytest.mark.parametrize("dedupe", list(KeepDuplicate))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apply_filters_equals_the_plain_lexsort_path(dedupe, seed):
    rng = np.random.default_rng(seed)
    n = 3000
    users = rng.integers(0, 120, n).astype(np.int32)
    items = rng.integers(0, 60, n).astype(np.int32)
    times = rng.integers(0, 40, n)  # many equal times
    order = np.sort(rng.integers(0, n // 2, n))  # repeated file positions (several rows per line)
    ratings = np.where(rng.random(n) < 0.2, np.nan, rng.integers(1, 6, n)).astype(np.float32)
    has_item = rng.random(60) < 0.9
    settings = FilterSettings(min_rating=2.0, dedupe=dedupe, min_user_interactions=3, min_item_interactions=2)
    result = apply_filters(users, items, times, ratings, order, has_item, settings)
    rows, user_dense, item_dense, user_codes, item_codes = _plain_filters(users, items, times, ratings, order, has_item, settings)
    assert len(rows) > 100
    np.testing.assert_array_equal(result.rows, rows)
    np.testing.assert_array_equal(result.user_dense, user_dense)
    np.testing.assert_array_equal(result.item_dense, item_dense)
    np.testing.assert_array_equal(result.user_codes, user_codes)
    np.testing.assert_array_equal(result.item_codes, item_codes)
    assert result.user_codes.dtype == user_codes.dtype and result.item_codes.dtype == item_codes.dtype
