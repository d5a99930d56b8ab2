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
recomputed. The result is the same as without pruning. It pays off when clusters lie
farther apart than twice the current radius (most rows skipped once every cluster has a
center); on 384-d text-like embeddings, whose topics overlap at that scale, it rarely
fires, and a chunk that keeps failing the test stops testing for up to 32 steps, so the
test then costs next to nothing (``benchmarks/RESULTS_coreset.md``).

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
_MAX_RECHECK = 32  # steps a chunk may go without testing pruning when the test keeps failing


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
        extra: method-specific figures (distance evaluations, shards, path taken).
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
        The selection with its exact covering radius; ``extra["distance_evaluations"]``
        counts the distances computed (``n k`` without pruning).
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
    state = _GreedyState(xt, k, chunk_size, prune)
    c, d2c = first_center(x, first, seed), np.inf
    for t in range(k):
        state.add_center(t, c, d2c)
        c = int(np.argmax(state.mind))
        d2c = float(state.mind[c])
    distances = np.sqrt(state.chosen_d2).astype(np.float32)
    return Selection(state.indices, distances, float(np.sqrt(max(d2c, 0.0))),
                     extra={"distance_evaluations": state.evaluations})


class _GreedyState:
    """Distances of every row to its nearest center so far, updated one center at a time.

    ``x`` is a zero-copy torch view of the (n, d) matrix: ``torch.mv`` follows
    ``torch.set_num_threads`` (one thread per worker), unlike numpy's BLAS pool. Per chunk
    of rows, the pruning test is skipped for a growing number of steps (up to
    ``_MAX_RECHECK``) while it keeps finding most rows to be candidates, so data where it
    cannot prune pays almost nothing for it.
    """

    def __init__(self, x: torch.Tensor, k: int, chunk_size: int, prune: bool) -> None:
        n, d = x.shape
        self.x, self.chunk, self.prune = x, chunk_size, prune
        self.sq = torch.einsum("ij,ij->i", x, x).numpy()  # (n,) squared norms
        self.slack = _SLACK * max(float(self.sq.max()), 1e-12)
        self.mind = np.full(n, np.inf, dtype=self.sq.dtype)  # (n,) squared distance to the nearest center
        self.assign = np.zeros(n, dtype=np.intp)  # (n,) position of that center in the selection
        self.centers = torch.empty((k, d), dtype=x.dtype)  # (k, d)
        self.indices = np.empty(k, dtype=np.int64)
        self.chosen_d2 = np.empty(k, dtype=np.float64)
        n_chunks = -(-n // chunk_size)
        self.next_check = np.zeros(n_chunks, dtype=np.int64)  # step at which a chunk tests pruning again
        self.interval = np.ones(n_chunks, dtype=np.int64)
        self.buf = torch.empty(min(n, chunk_size), dtype=x.dtype)
        self.evaluations = 0  # distances computed (n per step without pruning)

    def add_center(self, t: int, c: int, d2c: float) -> None:
        """Make row ``c`` center number ``t`` (chosen at squared distance ``d2c``)."""
        self.indices[t], self.chosen_d2[t] = c, d2c
        center = self.x[c]
        self.centers[t] = center
        cc2 = None
        if self.prune and t > 0:  # (t,) squared distances from the new center to the earlier ones
            dots = torch.mv(self.centers[:t], center).numpy()
            cc2 = np.maximum(self.sq[self.indices[:t]] + self.sq[c] - 2.0 * dots, 0.0)
        for ci, a in enumerate(range(0, len(self.sq), self.chunk)):
            self._update_chunk(ci, a, min(len(self.sq), a + self.chunk), t, center, float(self.sq[c]), cc2)
        self.mind[c] = 0.0

    def _update_chunk(self, ci: int, a: int, b: int, t: int, center: torch.Tensor, center_sq: float,
                      cc2: np.ndarray | None) -> None:
        m = self.mind[a:b]  # view, updated in place
        rows = None
        if cc2 is not None and t >= self.next_check[ci]:
            # skip rows with ||c_a - c_new||^2 >= 4 ||x - c_a||^2 (they cannot get closer)
            rows = np.flatnonzero(np.take(cc2, self.assign[a:b]) < 4.0 * m + self.slack)
            dense = 2 * len(rows) > b - a
            self.interval[ci] = min(2 * self.interval[ci], _MAX_RECHECK) if dense else 1
            self.next_check[ci] = t + self.interval[ci]
            if len(rows) == 0:
                return
            if dense:
                rows = None
        self.evaluations += b - a if rows is None else len(rows)
        if rows is None:
            d2 = torch.mv(self.x[a:b], center, out=self.buf[: b - a]).numpy()  # (b - a,) dot products
            _to_sq_dist(d2, self.sq[a:b], center_sq)
            np.putmask(self.assign[a:b], d2 < m, t)
            np.minimum(m, d2, out=m)
        else:
            d2 = torch.mv(self.x.index_select(0, torch.from_numpy(rows + a)), center).numpy()  # (r,)
            _to_sq_dist(d2, self.sq[a + rows], center_sq)
            closer = d2 < m[rows]
            moved = rows[closer]
            m[moved] = d2[closer]
            self.assign[a + moved] = t


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
