"""Global near-duplicate removal partitioned into coarse cells, exact at any number of cells.

With ``dedup_scope: global`` every survivor of every domain is a candidate duplicate of
every other. One task over all of them (:func:`gre_ray.coreset.rounds.near_global`) holds
the whole corpus's vectors; here each task holds one cell of them instead (SemDeDup,
Abbas et al. 2023, clusters first for the same reason, but only compares within a cluster
and so misses pairs across cluster borders; this module does not):

1. :func:`sample_rows`: a seeded sample of each domain's normalised survivors;
2. :func:`coarse_centroids`: k-means on the joined sample (``faiss.Kmeans``), one centroid
   per cell of about ``dedup_rows_per_task`` rows;
3. :func:`assign_cells`: each row is *owned* by its nearest centroid's cell and is a
   *guest* in every other cell whose Voronoi border is nearer to it than
   ``r = sqrt(2 - 2 * threshold)``, the largest distance of two unit vectors with cosine
   above the threshold. A near duplicate ``b`` of ``a`` lies within ``r`` of ``a``, and the
   segment from ``a`` to ``b`` crosses the border of ``b``'s cell, so ``a`` is a guest
   (or an owner) where ``b`` is owned: every near-duplicate pair meets in some cell;
4. :func:`cell_pairs`: a range search of the cell's owned rows by its owned and guest rows
   gives its pairs, named by global row (domain, then item-id order);
5. :func:`resolve`: the greedy pass of :func:`gre_ray.coreset.dedup.greedy_keep` over the
   union of the cells' pairs, in global row order, so the kept rows are those of the
   one-task path; it holds one flag per row and the pairs, never a vector.

Deviation: the one-task path switches to an inverted-file index above
``exact_limit`` rows and may miss pairs there; the cells are searched exactly up to that
size, so on a large corpus this path may find more duplicates, never fewer.
"""

from __future__ import annotations

import math

import numpy as np

from gre_ray.coreset.dedup import greedy_keep, near_pairs, normalize_rows

SAMPLE_PER_CELL = 64  # k-means training rows per cell
_ROW_CHUNK = 65_536  # rows per block of the (rows x cells) border distances


def cells_for(rows: int, rows_per_task: int) -> int:
    """Cells for ``rows`` survivors: one per ``rows_per_task`` rows (1 when they fit one task)."""
    return max(1, math.ceil(rows / rows_per_task))


def sample_rows(vectors: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to ``size`` normalised rows of ``vectors``, drawn with ``seed``, in row order."""
    n = len(vectors)
    take = np.sort(np.random.default_rng(seed).choice(n, min(n, size), replace=False)) if n else np.zeros(0, np.int64)
    return normalize_rows(vectors[take]) if len(take) else np.zeros((0, vectors.shape[1]), np.float32)


def coarse_centroids(cells: int, seed: int, *samples: np.ndarray) -> np.ndarray:
    """(cells, d) k-means centroids of the joined samples (fewer when the sample is smaller)."""
    import faiss

    x = np.ascontiguousarray(np.concatenate(samples), dtype=np.float32)
    cells = max(1, min(cells, len(x)))
    if cells == 1:
        return x.mean(axis=0, keepdims=True) if len(x) else np.zeros((1, x.shape[1]), np.float32)
    km = faiss.Kmeans(x.shape[1], cells, niter=20, seed=seed % (2**31 - 1), min_points_per_centroid=1,
                      max_points_per_centroid=1 << 20)
    km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def radius(threshold: float) -> float:
    """The largest distance of two unit vectors whose cosine similarity is above ``threshold`` (with slack)."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * threshold)) + 1e-4


def assign_cells(vectors: np.ndarray, offset: int, centroids: np.ndarray, threshold: float) -> list:
    """One domain's rows cut into cells: per cell ``(global rows, normalised vectors, owned mask)``.

    Args:
        vectors: (n, d) the domain's survivors' raw vectors, in item-id order.
        offset: global row of the domain's first row (the rows of the domains before it).
        centroids: (cells, d) from :func:`coarse_centroids`.
        threshold: the near-duplicate cosine threshold.

    Returns:
        A list with one ``(rows, vectors, owned)`` tuple per cell (a single tuple when there is one cell).
    """
    cells = len(centroids)
    r = radius(threshold)
    c2 = (centroids * centroids).sum(1)
    gap = np.sqrt(np.maximum(c2[:, None] + c2[None, :] - 2 * centroids @ centroids.T, 0.0))  # centroid distances
    rows: list[list[np.ndarray]] = [[] for _ in range(cells)]
    owned: list[list[np.ndarray]] = [[] for _ in range(cells)]
    for a in range(0, len(vectors), _ROW_CHUNK):
        x = normalize_rows(vectors[a : a + _ROW_CHUNK])
        d2 = (x * x).sum(1)[:, None] + c2[None, :] - 2 * x @ centroids.T  # (rows, cells) squared distances
        own = d2.argmin(axis=1)
        # distance of each row to the border of its own cell and cell j: (d2_j - d2_own) / (2 |c_own - c_j|)
        border = (d2 - d2[np.arange(len(x)), own][:, None]) / np.maximum(2 * gap[own], 1e-12)
        member = border < r
        member[np.arange(len(x)), own] = True
        for j in range(cells):
            at = np.flatnonzero(member[:, j])
            rows[j].append(at + a)
            owned[j].append(own[at] == j)
    out = []
    for j in range(cells):
        at = np.concatenate(rows[j]) if rows[j] else np.zeros(0, np.int64)
        mine = np.concatenate(owned[j]) if owned[j] else np.zeros(0, bool)
        out.append((at.astype(np.int64) + offset, normalize_rows(vectors[at]) if len(at) else
                    np.zeros((0, vectors.shape[1]), np.float32), mine))
    return out[0] if cells == 1 else out  # one return value when there is one cell


def cell_pairs(threshold: float, seed: int, *parts: tuple) -> np.ndarray:
    """(2, e) near-duplicate pairs (earlier, later global row) of one cell, from every domain's part of it."""
    rows = np.concatenate([p[0] for p in parts])
    x = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 1), np.float32)
    owned = np.concatenate([p[2] for p in parts])
    src, dst = near_pairs(x[owned], x, rows[owned], rows, threshold, seed=seed)
    return np.stack([src, dst])


def resolve(sizes: list[int], *pairs: np.ndarray) -> list[np.ndarray]:
    """Each domain's dropped rows (local, ascending) after the greedy pass over every cell's pairs.

    Args:
        sizes: survivors per domain, in the global row order.
        pairs: every cell's (2, e) pairs from :func:`cell_pairs`.
    """
    joined = np.unique(np.concatenate(pairs, axis=1), axis=1) if pairs else np.zeros((2, 0), np.int64)
    keep = greedy_keep(int(sum(sizes)), joined[0], joined[1])
    bounds = np.cumsum([0, *sizes])
    out = [np.flatnonzero(~keep[a:b]).astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]
    return out[0] if len(out) == 1 else out  # one return value when there is one domain
