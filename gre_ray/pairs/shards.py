"""The pure half of sharded pair mining: ids hashed to shards, pair keys, per-shard reduce, two-level top-k.

The ``pairs`` stage (:mod:`gre_ray.wiring.pairs_sharded`) cuts interactions by a hash of
the user id, counts co-occurrence per user shard (:func:`gre_ray.pairs.cooccurrence.cooccurrence_counts`),
sends each counted pair to the shard of a hash of the pair, and sums there
(:func:`reduce_counts`), so no process ever holds every pair. Counts of disjoint user sets
add up, hence the sum per pair shard equals the one-process count.

Per-item top-k (:func:`gre_ray.pairs.thresholds.top_k_mask`) runs in two levels: each pair
shard keeps, for every item, its ``k`` best local partners (:func:`local_top_k`); those
entries move to the shard of their item, which ranks them again (:func:`global_top_k`).
An item's global top ``k`` are among the local top ``k`` of the shards holding them, and
both levels order by (score descending, partner ascending), so the result is the
one-process mask exactly.

Hashes are computed from the bytes of the ids with numpy (a polynomial over the bytes,
then the SplitMix64 finaliser; Steele et al. 2014), never with Python's per-process
salted ``hash``, so every process sends an id to the same shard.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_MULT = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime, the polynomial's base


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that spreads every input bit."""
    z = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def string_hash(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(n,) uint64 hash of each string of ``column`` (nulls hash as the empty string)."""
    if isinstance(column, pa.ChunkedArray):
        parts = [string_hash(c) for c in column.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    column = column.cast(pa.large_string()) if column.type != pa.large_string() else column
    n = len(column)
    if n == 0:
        return np.zeros(0, np.uint64)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset : column.offset + n + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8) if column.buffers()[2] is not None else np.zeros(0, np.uint8)
    start, stop = int(offsets[0]), int(offsets[-1])
    data = data[start:stop].astype(np.uint64)
    lengths = np.diff(offsets)
    rel = offsets[:-1] - start
    pos = np.arange(len(data), dtype=np.int64) - np.repeat(rel, lengths)  # position of each byte in its string
    longest = int(lengths.max()) if n else 0
    powers = np.ones(max(longest, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(1, longest):
            powers[i] = powers[i - 1] * _MULT
        weighted = data * powers[pos] if len(data) else data
    sums = np.zeros(n, dtype=np.uint64)
    nonempty = lengths > 0
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(weighted, rel[nonempty])
    with np.errstate(over="ignore"):
        return mix64(sums + lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def shard_of(hashes: np.ndarray, n_shards: int) -> np.ndarray:
    """(n,) int64 shard in ``[0, n_shards)`` of each uint64 hash."""
    return (np.asarray(hashes, dtype=np.uint64) % np.uint64(n_shards)).astype(np.int64)


def split_by_shard(shard: np.ndarray, n_shards: int) -> list[np.ndarray]:
    """Row positions of each shard, every list in ascending row order (a stable split)."""
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(n_shards + 1))
    return [order[bounds[s] : bounds[s + 1]] for s in range(n_shards)]


def pair_keys(rows: np.ndarray, cols: np.ndarray, n_items: int) -> np.ndarray:
    """(P,) int64 key ``row * n_items + col`` of each pair; keys sort like (row, col)."""
    return rows.astype(np.int64) * n_items + cols.astype(np.int64)


def key_parts(keys: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) int32 of pair keys."""
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def pair_shard(keys: np.ndarray, n_shards: int) -> np.ndarray:
    """The pair shard of each pair key."""
    return shard_of(mix64(keys.astype(np.uint64)), n_shards)


def item_shard(items: np.ndarray, n_shards: int) -> np.ndarray:
    """The item shard of each dense item id (for the second level of top-k)."""
    return shard_of(mix64(items.astype(np.uint64) + np.uint64(0x632BE59BD9B4E019)), n_shards)


def reduce_counts(keys: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sum the counts of equal keys over parts.

    Returns:
        (distinct keys ascending int64, their summed int64 counts).
    """
    k = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    c = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    if len(k) == 0:
        return k.astype(np.int64), c
    order = np.argsort(k, kind="stable")
    k, c = k[order], c[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.add.reduceat(c, starts)


def _ranked(item: np.ndarray, partner: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order by item, then score descending, then partner; rank of each entry within its item)."""
    order = np.lexsort((partner, -score, item))
    item_sorted = item[order]
    starts = np.flatnonzero(np.r_[True, item_sorted[1:] != item_sorted[:-1]]) if len(order) else np.zeros(0, np.int64)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order, rank


def local_top_k(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's ``k`` best partners among this shard's pairs.

    Returns:
        (item, partner, score) of the entries kept; an entry (i, j) stands for pair {i, j}.
    """
    item = np.r_[rows, cols].astype(np.int32)
    partner = np.r_[cols, rows].astype(np.int32)
    score = np.r_[scores, scores]
    order, rank = _ranked(item, partner, score)
    kept = order[rank < k]
    return item[kept], partner[kept], score[kept]


def global_top_k(item: np.ndarray, partner: np.ndarray, score: np.ndarray, k: int, n_items: int) -> np.ndarray:
    """Pair keys (ascending, distinct) of the entries that rank below ``k`` for their item."""
    order, rank = _ranked(item, partner, score)
    kept = order[rank < k]
    lo, hi = np.minimum(item[kept], partner[kept]), np.maximum(item[kept], partner[kept])
    return np.unique(pair_keys(lo, hi, n_items))
