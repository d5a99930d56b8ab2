"""User sequences: stable time order, unknown items, repeats, single-item users, the seeded cap."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gre_ray.pairs.sequences import build_sequences, cap_sequences, item_index


def _build(rows, vocab):
    users = pa.array([r[0] for r in rows])
    idx = item_index(pa.array([r[1] for r in rows]), pa.array(vocab))
    return build_sequences(users, idx, np.array([r[2] for r in rows], dtype=np.int64), len(vocab))


def _as_lists(seqs, vocab):
    return {str(u): [vocab[i] for i in seqs.items[seqs.indptr[k] : seqs.indptr[k + 1]]] for k, u in enumerate(seqs.user_ids)}


def test_time_order_with_stable_ties_and_bad_rows_counted():
    vocab = ["a", "b", "c", "d"]
    rows = [
        ("u", "c", 5), ("u", "a", 3), ("u", "b", 3), ("u", "zzz", 1),  # a, b tie: row order a, b
        ("u", "a", 9),  # repeat: first occurrence kept
        ("v", "d", 1),  # single item
        ("w", "d", 2), ("w", "b", 2),
    ]
    seqs, stats = _build(rows, vocab)
    assert _as_lists(seqs, vocab) == {"u": ["a", "b", "c"], "w": ["d", "b"]}
    assert stats.unknown_item_rows == 1
    assert stats.repeat_rows == 1
    assert stats.single_item_users == 1
    assert stats.users == 2


def test_order_does_not_depend_on_row_order_except_for_ties():
    vocab = [f"i{k}" for k in range(30)]
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}", int(t)) for u in range(20) for i, t in zip(rng.choice(30, 8, replace=False), rng.permutation(100)[:8])]
    shuffled = [rows[k] for k in rng.permutation(len(rows))]
    assert _as_lists(_build(rows, vocab)[0], vocab) == _as_lists(_build(shuffled, vocab)[0], vocab)


def test_cap_is_seeded_keeps_time_order_and_is_counted():
    vocab = [f"i{k}" for k in range(50)]
    rows = [("heavy", f"i{k}", k) for k in range(50)] + [("light", "i0", 0), ("light", "i1", 1)]
    seqs, stats = _build(rows, vocab)
    capped = cap_sequences(seqs, 10, seed=3, stats=stats)
    again = cap_sequences(seqs, 10, seed=3)
    other = cap_sequences(seqs, 10, seed=4)
    heavy = _as_lists(capped, vocab)["heavy"]
    assert len(heavy) == 10 and heavy == sorted(heavy, key=lambda s: int(s[1:]))
    assert heavy == _as_lists(again, vocab)["heavy"] != _as_lists(other, vocab)["heavy"]
    assert _as_lists(capped, vocab)["light"] == ["i0", "i1"]
    assert stats.capped_users == 1 and stats.capped_rows_dropped == 40
    # The sample of a user does not depend on the other users (sharding-invariant).
    alone = cap_sequences(_build(rows[:50], vocab)[0], 10, seed=3)
    assert _as_lists(alone, vocab)["heavy"] == heavy


def test_shards_cover_all_users_once():
    vocab = [f"i{k}" for k in range(10)]
    rows = [(f"u{u}", f"i{(u + k) % 10}", k) for u in range(25) for k in range(2 + u % 4)]
    seqs, _ = _build(rows, vocab)
    shards = seqs.shards(rows_per_shard=7)
    assert len(shards) > 3
    assert sum(s.n_users for s in shards) == seqs.n_users
    assert np.array_equal(np.concatenate([s.items for s in shards]), seqs.items)
