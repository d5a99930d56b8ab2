"""Token-budget batching and padding (pure numpy)."""

from __future__ import annotations

import numpy as np

from gre_ray.embed.batching import clean_texts, fixed_size_batches, pad_rows, token_budget_batches


def test_budget_batches_cover_every_row_once_within_budget():
    lengths = np.random.default_rng(0).integers(2, 300, 500)
    batches = list(token_budget_batches(lengths, token_budget=1024, max_rows=32))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for batch in batches:
        assert len(batch) <= 32
        assert len(batch) == 1 or len(batch) * lengths[batch].max() <= 1024
    longest_first = [lengths[b].max() for b in batches]
    assert longest_first == sorted(longest_first, reverse=True)


def test_sorted_batches_pad_less_than_input_order():
    lengths = np.random.default_rng(1).integers(5, 300, 1000)
    padded = lambda batches: sum(len(b) * lengths[b].max() for b in batches)  # noqa: E731
    assert padded(token_budget_batches(lengths, 4096, 64)) < 0.6 * padded(fixed_size_batches(1000, 32))


def test_row_longer_than_budget_is_a_batch_of_its_own():
    batches = list(token_budget_batches(np.array([10, 500, 10]), token_budget=100, max_rows=8))
    assert [b.tolist() for b in batches] == [[1], [0, 2]]


def test_pad_rows_right_and_left():
    right = pad_rows([[5, 6, 7], [8]], [[0, 0, 0], [0]], pad_id=0)
    assert right.input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    left = pad_rows([[5, 6, 7], [8]], None, pad_id=9, left=True)
    assert left.input_ids.tolist() == [[5, 6, 7], [9, 9, 8]]
    assert left.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert left.token_type_ids is None


def test_clean_texts_maps_blank_to_bare_prefix():
    texts, empty = clean_texts(["a b", "", "  \n"], prefix="passage: ")
    assert texts == ["passage: a b", "passage: ", "passage: "]
    assert empty.tolist() == [False, True, True]
