"""Co-occurrence counts against hand-computed values: whole sequences, windows, shards."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gre_ray.pairs.cooccurrence import candidate_pairs, cooccurrence_counts, sum_counts
from gre_ray.pairs.sequences import build_sequences, item_index
from tests.pairs.helpers import HAND_ITEMS, HAND_ROWS


def hand_sequences():
    idx = item_index(pa.array([r[1] for r in HAND_ROWS]), pa.array(HAND_ITEMS))
    times = np.array([r[2] for r in HAND_ROWS], dtype=np.int64)
    return build_sequences(pa.array([r[0] for r in HAND_ROWS]), idx, times, len(HAND_ITEMS))[0]


def _pairs(counts):
    rows, cols, data = candidate_pairs(counts, 1)
    return {(HAND_ITEMS[r] + HAND_ITEMS[c]): int(d) for r, c, d in zip(rows, cols, data)}


def test_whole_sequence_counts_by_hand():
    counts = cooccurrence_counts(hand_sequences())
    assert _pairs(counts) == {"AB": 2, "AC": 1, "BC": 2, "BD": 1, "CD": 1}
    dense = counts.toarray()
    assert np.all(np.tril(dense) == 0)  # each pair once, i < j


def test_window_counts_by_hand():
    seqs = hand_sequences()
    assert _pairs(cooccurrence_counts(seqs, window=1)) == {"AB": 2, "BC": 2, "CD": 1}
    assert _pairs(cooccurrence_counts(seqs, window=2)) == _pairs(cooccurrence_counts(seqs))


def test_pair_is_stored_once_whichever_item_came_first():
    # One user B then A: the pair is counted as (A, B) once, whichever came first.
    idx = item_index(pa.array(["B", "A"]), pa.array(["A", "B"]))
    seqs = build_sequences(pa.array(["u", "u"]), idx, np.array([1, 2]), 2)[0]
    assert cooccurrence_counts(seqs, window=1).toarray().tolist() == [[0, 1], [0, 0]]


def test_window_and_blocks_agree_with_a_brute_force_count():
    rng = np.random.default_rng(1)
    n_items = 40
    users, items, times = [], [], []
    for u in range(60):
        chosen = rng.choice(n_items, rng.integers(2, 15), replace=False)
        users += [f"u{u}"] * len(chosen)
        items += list(chosen)
        times += list(range(len(chosen)))
    seqs = build_sequences(pa.array(users), np.array(items), np.array(times), n_items)[0]
    for window in (None, 1, 3):
        expected = np.zeros((n_items, n_items), dtype=int)
        for u in range(seqs.n_users):
            s = seqs.items[seqs.indptr[u] : seqs.indptr[u + 1]]
            for p in range(len(s)):
                for q in range(p + 1, len(s)):
                    if window is None or q - p <= window:
                        expected[min(s[p], s[q]), max(s[p], s[q])] += 1
        assert np.array_equal(cooccurrence_counts(seqs, window).toarray(), expected)
        assert np.array_equal(cooccurrence_counts(seqs, window, block_rows=50).toarray(), expected)
        parts = [cooccurrence_counts(shard, window) for shard in seqs.shards(rows_per_shard=90)]
        assert len(parts) > 2
        assert np.array_equal(sum_counts(parts).toarray(), expected)


def test_min_support():
    rows, cols, data = candidate_pairs(cooccurrence_counts(hand_sequences()), 2)
    assert [(HAND_ITEMS[r], HAND_ITEMS[c], int(d)) for r, c, d in zip(rows, cols, data)] == [("A", "B", 2), ("B", "C", 2)]
