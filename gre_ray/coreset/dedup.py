"""De-duplication: exact (by normalised-text hash) and near (by embedding cosine similarity).

Near duplicates waste pre-training compute the way exact copies do (Lee et al. 2022,
"Deduplicating Training Data Makes Language Models Better"; Abbas et al. 2023, "SemDeDup:
Data-efficient learning at web-scale through semantic deduplication", which thresholds the
cosine similarity of embeddings as here).

Both keep the first row of each group in the order given (the stage orders rows by domain,
then item id) and drop later rows that duplicate a kept one. For near duplicates this is a
greedy pass over the similarity graph: a row survives unless an earlier *surviving* row is
above the threshold, so no two survivors are near duplicates, and a chain a~b~c with a, c
far apart keeps a and c.

Pairs come from a faiss range search on L2-normalised vectors (inner product = cosine):
exact (``IndexFlatIP``) up to ``exact_limit`` rows, above it an inverted-file index
(``IndexIVFFlat``, 4·sqrt(n) lists trained on a seeded sample of 40 rows per list, ``nprobe``
lists searched) that may miss pairs across list borders but
never reports a false pair.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

TRAIN_PER_LIST = 40  # IVF training rows per list: k-means on every row cost minutes at 10^6 rows


def exact_duplicate_keep(hashes: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Keep mask (n,): False for a row whose hash (within its group) appeared on an earlier row.

    Args:
        hashes: (n,) normalised-text hashes.
        groups: (n,) group of each row (the domain) to de-duplicate within; None for global.
    """
    import pandas as pd

    keys = pd.DataFrame({"h": hashes}) if groups is None else pd.DataFrame({"g": groups, "h": hashes})
    return ~keys.duplicated(keep="first").to_numpy()


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm, as contiguous float32 (zero rows stay zero)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _index(x: np.ndarray, exact_limit: int, nprobe: int, seed: int) -> faiss.Index:
    n, d = x.shape
    if n <= exact_limit:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = max(1, int(4 * math.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        sample = np.random.default_rng(seed).choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False)
        index.train(x[np.sort(sample)])
        index.nprobe = min(nprobe, nlist)
    index.add(x)
    return index


def near_duplicate_keep(
    x: np.ndarray,
    threshold: float,
    *,
    query_chunk: int = 8_192,
    exact_limit: int = 100_000,
    nprobe: int = 16,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Keep mask (n,) after greedy removal of near duplicates in row order.

    Args:
        x: (n, d) L2-normalised vectors.
        threshold: a pair with cosine similarity strictly above it is a near duplicate.
        query_chunk: rows queried per range search (bounds the result buffers).
        exact_limit: largest n searched exhaustively; above it, IVF (see the module docstring).
        nprobe: inverted lists searched per query above ``exact_limit``.
        seed: seed of the IVF training.

    Returns:
        (keep mask, number of near-duplicate pairs found).
    """
    n = len(x)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep, 0
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = _index(x, exact_limit, nprobe, seed)
    pairs = 0
    for a in range(0, n, query_chunk):  # the greedy pass runs per chunk: no list of every pair is kept
        b = min(n, a + query_chunk)
        lims, _, nbrs = index.range_search(x[a:b], float(threshold))
        src = np.repeat(np.arange(a, b), np.diff(lims.astype(np.int64)))  # (e,) query row of each result
        later = nbrs > src  # each pair once, from its earlier row
        src, dst = src[later], nbrs[later]
        pairs += len(src)
        if len(src) == 0:
            continue
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])  # results come grouped by query
        ends = np.r_[starts[1:], len(src)]
        for s, e in zip(starts, ends):
            if keep[src[s]]:
                keep[dst[s:e]] = False
    return keep, pairs


def near_pairs(
    base: np.ndarray,
    queries: np.ndarray,
    base_rows: np.ndarray,
    query_rows: np.ndarray,
    threshold: float,
    *,
    query_chunk: int = 8_192,
    exact_limit: int = 100_000,
    nprobe: int = 16,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs between ``queries`` and ``base``, as (earlier row, later row).

    Args:
        base: (m, d) L2-normalised vectors to index.
        queries: (q, d) L2-normalised vectors to look up (may be ``base`` itself).
        base_rows, query_rows: the row number (in the order that decides who is kept) of
            each vector; a pair of one row with itself is left out.
        threshold, query_chunk, exact_limit, nprobe, seed: as :func:`near_duplicate_keep`.

    Returns:
        ``(src, dst)`` int64 arrays with ``src < dst``, sorted by ``src`` then ``dst``, no repeats.
        Every pair is held at once: a cell of vectors that are nearly all alike (an
        untrained encoder) returns about ``len(base) * len(queries) / 2`` of them.
    """
    if len(base) == 0 or len(queries) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    index = _index(np.ascontiguousarray(base, dtype=np.float32), exact_limit, nprobe, seed)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    base_rows, query_rows = np.asarray(base_rows, np.int64), np.asarray(query_rows, np.int64)
    found = []
    for a in range(0, len(queries), query_chunk):
        b = min(len(queries), a + query_chunk)
        lims, _, nbrs = index.range_search(queries[a:b], float(threshold))
        q = np.repeat(query_rows[a:b], np.diff(lims.astype(np.int64)))  # (e,) query row of each result
        r = base_rows[nbrs]
        found.append(np.stack([np.minimum(q, r), np.maximum(q, r)])[:, q != r])
    pairs = np.unique(np.concatenate(found, axis=1), axis=1) if found else np.zeros((2, 0), np.int64)
    return pairs[0], pairs[1]


def greedy_keep(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Keep mask (n,): rows in order, a row dropped when an earlier *kept* row is its near duplicate.

    Args:
        n: rows.
        src, dst: the near-duplicate pairs (``src < dst``), sorted by ``src``.
    """
    keep = np.ones(n, dtype=bool)
    if len(src) == 0:
        return keep
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    ends = np.r_[starts[1:], len(src)]
    for s, e in zip(starts, ends):
        if keep[src[s]]:
            keep[dst[s:e]] = False
    return keep
