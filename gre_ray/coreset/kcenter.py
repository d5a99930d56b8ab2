"""k-center greedy (farthest-point traversal) over embeddings, exact and chunked.

Gonzalez (1985), "Clustering to minimize the maximum intercluster distance": start from one
point, then repeatedly add the point farthest from every chosen center. The covering radius
of the k chosen centers is at most twice the optimal k-center radius. Sener & Savarese
(ICLR 2018), "Active Learning for Convolutional Neural Networks: A Core-Set Approach", use
the same greedy to pick a diverse subset of a dataset, which is how GRE picks its corpus.

Implementation (:func:`kcenter_greedy`): each point keeps its squared distance to the
nearest center so far; adding a center updates those in chunks of rows, so one step reads
the ``(n, d)`` matrix once and allocates only ``O(chunk)`` temporaries; k steps cost
``O(n k d)``. Exact pruning by the triangle inequality (as in Elkan 2003, "Using the
triangle inequality to accelerate k-means"): a point whose nearest center ``a`` satisfies
``||c_a - c_new|| >= 2 ||x - c_a||`` cannot move closer to ``c_new``, so its distance is not
recomputed. The result is the same as without pruning; on clustered data most rows are
skipped once each cluster has a center.

Determinism: the first center is drawn with ``seed`` (``FirstCenter.SEEDED``) or is the
point nearest the mean (``FirstCenter.NEAREST_MEAN``); ties in the farthest point go to the
lowest row index. :func:`kcenter_naive` recomputes every distance to every center at every
step: the reference for tests and the baseline of ``benchmarks/bench_coreset.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from gre_ray.coreset.config import FirstCenter

_SLACK = 1e-5  # relative slack on the pruning test, for float rounding of the distances


@dataclass
class Selection:
    """Points chosen from one set of vectors.

    Attributes:
        indices: (k,) rows of the input, in selection order.
        distances: (k,) distance of each chosen point to the nearest earlier center when
            it was chosen (``inf`` for the first center; NaN when everything was kept
            without running the selection; for medoids, the distance to the centroid).
        radius: covering radius, max over the input of the distance to the nearest
            chosen point (0 when every point is chosen).
        radius_is_bound: True when ``radius`` is an upper bound (two-stage path).
        message: what happened when the request could not be met as asked.
    """

    indices: np.ndarray
    distances: np.ndarray
    radius: float
    radius_is_bound: bool = False
    message: str = ""
    extra: dict = field(default_factory=dict)


def keep_all(n: int, k: int) -> Selection:
    """Every point, in input order: the defined result when ``k >= n``."""
    message = f"k={k} >= n={n}: all {n} points selected" if n else "no points to select from"
    return Selection(np.arange(n, dtype=np.int64), np.full(n, np.nan, np.float32), 0.0, message=message)


def first_center(x: np.ndarray, how: FirstCenter, seed: int) -> int:
    """Row of the first center: drawn with ``seed``, or the point nearest the mean of ``x`` (n, d)."""
    if FirstCenter(how) is FirstCenter.NEAREST_MEAN:
        mean = x.mean(axis=0, dtype=np.float64).astype(x.dtype)  # (d,)
        return int(np.argmin(np.einsum("ij,ij->i", x, x) - 2.0 * (x @ mean)))
    return int(np.random.default_rng(seed).integers(len(x)))


def _as_float(x: np.ndarray) -> np.ndarray:
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    return np.ascontiguousarray(x, dtype=dtype)


def kcenter_greedy(
    x: np.ndarray,
    k: int,
    *,
    first: FirstCenter = FirstCenter.SEEDED,
    seed: int = 0,
    chunk_size: int = 65_536,
    prune: bool = True,
) -> Selection:
    """Choose ``k`` rows of ``x`` by farthest-point greedy.

    Args:
        x: (n, d) vectors (float32, or float64 kept as is); Euclidean distances.
        k: number of centers; ``k >= n`` keeps every row (see :func:`keep_all`).
        first: how the first center is chosen.
        seed: seed of the first center when ``first`` is ``seeded``.
        chunk_size: rows per distance update.
        prune: skip rows the triangle inequality rules out (same result, less work).

    Returns:
        The selection with its exact covering radius.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    n = len(x)
    if k >= n:
        return keep_all(n, k)
    if k == 0:
        return Selection(np.zeros(0, np.int64), np.zeros(0, np.float32), float("inf"), message="k=0: nothing selected")
    x = _as_float(x)
    with warnings.catch_warnings():  # a read-only array (a Ray object) is only read here
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(x)  # shares memory with x
    sq = np.einsum("ij,ij->i", x, x)  # (n,) squared norms
    slack = _SLACK * max(float(sq.max()), 1e-12)
    mind = np.full(n, np.inf, dtype=x.dtype)  # (n,) squared distance to the nearest center
    assign = np.zeros(n, dtype=np.intp)  # (n,) position of that center in the selection
    centers = np.empty((k, x.shape[1]), dtype=x.dtype)  # (k, d)
    indices = np.empty(k, dtype=np.int64)
    chosen_d2 = np.empty(k, dtype=np.float64)
    c, d2c = first_center(x, first, seed), np.inf
    for t in range(k):
        indices[t], chosen_d2[t] = c, d2c
        centers[t] = x[c]
        cc2 = None
        if prune and t > 0:  # (t,) squared distances from the new center to the earlier ones
            cc2 = np.maximum(sq[indices[:t]] + sq[c] - 2.0 * (centers[:t] @ x[c]), 0.0)
        _update(xt, sq, mind, assign, t, xt[c], float(sq[c]), cc2, chunk_size, slack)
        mind[c] = 0.0
        c = int(np.argmax(mind))
        d2c = float(mind[c])
    distances = np.sqrt(chosen_d2).astype(np.float32)
    return Selection(indices, distances, float(np.sqrt(max(d2c, 0.0))))


def _update(
    x: torch.Tensor,
    sq: np.ndarray,
    mind: np.ndarray,
    assign: np.ndarray,
    t: int,
    center: torch.Tensor,
    center_sq: float,
    cc2: np.ndarray | None,
    chunk_size: int,
    slack: float,
) -> None:
    """Lower ``mind`` (n,) to the squared distance to ``center`` (d,) where that is closer.

    ``x`` is a zero-copy torch view of the (n, d) matrix: ``torch.mv`` follows
    ``torch.set_num_threads`` (one thread per worker), unlike numpy's BLAS pool.
    """
    n = len(sq)
    buf = torch.empty(min(n, chunk_size), dtype=x.dtype)
    for a in range(0, n, chunk_size):
        b = min(n, a + chunk_size)
        m = mind[a:b]  # view, updated in place
        rows = None
        if cc2 is not None:
            # skip rows with ||c_a - c_new||^2 >= 4 ||x - c_a||^2 (they cannot get closer)
            rows = np.flatnonzero(np.take(cc2, assign[a:b]) < 4.0 * m + slack)
            if len(rows) == 0:
                continue
            if 2 * len(rows) > b - a:
                rows = None
        if rows is None:
            d2 = torch.mv(x[a:b], center, out=buf[: b - a]).numpy()  # (b - a,) dot products
            _to_sq_dist(d2, sq[a:b], center_sq)
            closer = d2 < m
            np.putmask(assign[a:b], closer, t)
            np.minimum(m, d2, out=m)
        else:
            rows_t = torch.from_numpy(rows + a)
            d2 = torch.mv(x.index_select(0, rows_t), center).numpy()  # (r,)
            _to_sq_dist(d2, sq[a + rows], center_sq)
            closer = d2 < m[rows]
            moved = rows[closer]
            m[moved] = d2[closer]
            assign[a + moved] = t


def _to_sq_dist(dots: np.ndarray, sq: np.ndarray, center_sq: float) -> None:
    """In place: ``x . c`` → ``max(|x|^2 + |c|^2 - 2 x . c, 0)``."""
    dots *= -2.0
    dots += sq
    dots += center_sq
    np.maximum(dots, 0.0, out=dots)


def covering_radius(x: np.ndarray, centers: np.ndarray, chunk_size: int = 65_536) -> float:
    """Max over rows of ``x`` (n, d) of the distance to the nearest row of ``centers`` (k, d)."""
    if len(x) == 0:
        return 0.0
    if len(centers) == 0:
        return float("inf")
    x, centers = _as_float(x), _as_float(centers).astype(_as_float(x).dtype)
    csq = np.einsum("ij,ij->i", centers, centers)
    worst = 0.0
    for a in range(0, len(x), chunk_size):
        block = x[a : a + chunk_size]  # (b, d)
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + csq[None, :] - 2.0 * (block @ centers.T)  # (b, k)
        worst = max(worst, float(np.maximum(d2.min(axis=1), 0.0).max()))
    return float(np.sqrt(worst))


def kcenter_naive(x: np.ndarray, k: int, *, first: FirstCenter = FirstCenter.SEEDED, seed: int = 0) -> Selection:
    """Reference farthest-point greedy: at every step, all distances to all centers from scratch.

    ``O(n k^2 d)`` time in float64; only for tests and as the benchmark baseline.
    """
    n = len(x)
    if k >= n:
        return keep_all(n, k)
    x = np.asarray(x, dtype=np.float64)
    chosen = [first_center(x, first, seed)]
    distances = [np.inf]
    while True:
        d = np.min([np.linalg.norm(x - x[c], axis=1) for c in chosen], axis=0)  # (n,)
        if len(chosen) == k:
            return Selection(np.array(chosen, np.int64), np.array(distances, np.float32), float(d.max()))
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        distances.append(float(d[nxt]))
