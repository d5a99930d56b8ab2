"""k-center greedy (farthest-point traversal) over embeddings, exact and chunked.

Gonzalez (1985), "Clustering to minimize the maximum intercluster distance": start from one
point, then repeatedly add the point farthest from every chosen center. The covering radius
of the k chosen centers is at most twice the optimal k-center radius. Sener & Savarese
(ICLR 2018), "Active Learning for Convolutional Neural Networks: A Core-Set Approach", use
the same greedy to pick a diverse subset of a dataset, which is how GRE picks its corpus.

Implementation (:func:`kcenter_greedy`), exact but blocked so the work is matrix products
rather than one memory-bound pass per center: every row keeps an upper bound on its squared
distance to the nearest center. New centers are applied to all rows only once ``block`` of
them are pending, with one ``(chunk, d) x (d, block)`` product per chunk of rows, so the
``(n, d)`` matrix is read ``k / block`` times instead of ``k`` times. In between, the next
center is found lazily (as in Minoux's accelerated greedy, 1978): the rows with the largest
bounds at the last full pass are refreshed against the pending centers until the best
refreshed distance beats every remaining bound, which proves it is the farthest row. The
selection is the one plain greedy makes; the cost is ``O(n k d)`` flops at matrix-product
speed plus ``O(k (m + block) d)`` for refreshing ``m`` rows per step. Distances use
``|x|^2 + |c|^2 - 2 x.c`` in the input's precision: in float32, rows whose gaps are below
~1e-7 of their squared norm tie within rounding and may resolve either way (normalised
embeddings are far from that; pass float64 for exact ties).

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
    chunk_size: int = 16_384,
    block: int = 256,
) -> Selection:
    """Choose ``k`` rows of ``x`` by farthest-point greedy (blocked, exact; module docstring).

    Args:
        x: (n, d) vectors (float32, or float64 kept as is); Euclidean distances.
        k: number of centers; ``k >= n`` keeps every row (see :func:`keep_all`).
        first: how the first center is chosen.
        seed: seed of the first center when ``first`` is ``seeded``.
        chunk_size: rows per distance block (temporary memory ``chunk_size * block`` floats).
        block: centers applied to every row in one pass (1 = the plain per-step update).

    Returns:
        The selection with its exact covering radius; ``extra`` counts the full passes
        and the rows refreshed between them.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if block < 1 or chunk_size < 1:
        raise ValueError(f"block and chunk_size must be at least 1, got {block} and {chunk_size}")
    n = len(x)
    if k >= n:
        return keep_all(n, k)
    if k == 0:
        return Selection(np.zeros(0, np.int64), np.zeros(0, np.float32), float("inf"), message="k=0: nothing selected")
    x = _as_float(x)
    with warnings.catch_warnings():  # a read-only array (a Ray object) is only read here
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(x)  # shares memory with x
    state = _BlockedGreedy(xt, k, chunk_size, block)
    c, d2c = first_center(x, first, seed), np.inf
    for t in range(k):
        state.add_center(t, c, d2c)
        if t + 1 < k:
            c, d2c = state.farthest()
    state.flush()
    last = int(np.argmax(state.mind))
    distances = np.sqrt(state.chosen_d2).astype(np.float32)
    return Selection(state.indices, distances, float(np.sqrt(max(float(state.mind[last]), 0.0))),
                     extra={"full_passes": state.passes, "refreshed_rows": state.refreshed})


class _BlockedGreedy:
    """Exact farthest-point greedy that applies new centers to all rows in blocks.

    ``mind[i]`` is the squared distance of row i to its nearest center among the first
    ``max(upto[i], applied)`` centers, an upper bound on its distance to all centers so far.
    :meth:`farthest` refreshes the rows with the largest bounds (in the order fixed at the
    last pass) against the pending centers until the best refreshed value beats every
    remaining bound; :meth:`flush` applies the pending centers to every row with one
    ``(chunk, d) x (d, block)`` matrix product per chunk.
    """

    def __init__(self, x: torch.Tensor, k: int, chunk_size: int, block: int) -> None:
        n, d = x.shape
        self.x, self.n, self.chunk, self.block = x, n, chunk_size, block
        self.sq = torch.einsum("ij,ij->i", x, x).numpy()  # (n,) squared norms
        self.mind = np.full(n, np.inf, dtype=self.sq.dtype)  # (n,) upper bounds, see the class docstring
        self.upto = np.zeros(n, dtype=np.int64)  # (n,) centers reflected in mind by a refresh
        self.centers = torch.empty((k, d), dtype=x.dtype)  # (k, d)
        self.csq = np.empty(k, dtype=self.sq.dtype)  # (k,) their squared norms
        self.indices = np.empty(k, dtype=np.int64)
        self.chosen_d2 = np.empty(k, dtype=np.float64)
        self.t = self.applied = 0  # centers chosen, centers applied to every row
        self.buf = torch.empty(min(n, chunk_size) * block, dtype=x.dtype)  # flat: any (rows, p) view is contiguous
        self.order = np.zeros(0, dtype=np.int64)  # rows with the largest bounds at the last pass
        self.order_d2 = np.zeros(0, dtype=self.sq.dtype)  # (L,) their bounds then, descending
        self.m = 0
        self.passes = self.refreshed = 0

    def add_center(self, t: int, c: int, d2c: float) -> None:
        """Make row ``c`` center number ``t`` (chosen at squared distance ``d2c``)."""
        self.indices[t], self.chosen_d2[t] = c, d2c
        self.centers[t] = self.x[c]
        self.csq[t] = self.sq[c]
        self.t = t + 1
        self.mind[c], self.upto[c] = 0.0, self.t
        if self.applied == 0 or self.t - self.applied >= self.block:
            self.flush()

    def flush(self) -> None:
        """Apply the pending centers to every row; then rank the rows with the largest bounds."""
        lo, hi = self.applied, self.t
        if lo == hi:
            return
        centers_t = self.centers[lo:hi].T  # (d, p)
        csq = torch.from_numpy(self.csq[lo:hi])  # (p,)
        for a in range(0, self.n, self.chunk):
            b = min(self.n, a + self.chunk)
            out = self.buf[: (b - a) * (hi - lo)].view(b - a, hi - lo)
            torch.addmm(csq, self.x[a:b], centers_t, beta=1.0, alpha=-2.0, out=out)  # |c|^2 - 2 x.c
            d2 = torch.amin(out, dim=1).numpy() + self.sq[a:b]  # (b - a,) nearest pending center
            np.minimum(self.mind[a:b], np.maximum(d2, 0.0), out=self.mind[a:b])
        self.applied = hi
        self.passes += 1
        size = min(self.n, max(1024, 4 * self.block))
        top = np.argpartition(-self.mind, size - 1)[:size] if size < self.n else np.arange(self.n)
        self.order = top[np.lexsort((top, -self.mind[top]))]  # descending bound, then row
        self.order_d2 = self.mind[self.order].copy()
        self.m = min(32, len(self.order))  # rows of ``order`` examined so far in this block

    def _refresh(self, rows: np.ndarray) -> None:
        """Bring ``mind`` of ``rows`` up to date with every center chosen so far.

        Rows refreshed at an earlier step need only the centers chosen since; rows never
        refreshed since the last pass need every pending center.
        """
        upto = np.maximum(self.upto[rows], self.applied)
        for part in (rows[(upto < self.t) & (upto > self.applied)], rows[upto == self.applied]):
            if len(part) == 0 or self.applied == self.t:
                continue
            lo = max(self.applied, int(self.upto[part].min()))
            dots = (self.x[torch.from_numpy(part)] @ self.centers[lo : self.t].T).numpy()  # (r, p)
            d2 = np.maximum((self.csq[lo : self.t] - 2.0 * dots).min(axis=1) + self.sq[part], 0.0)
            self.mind[part] = np.minimum(self.mind[part], d2)
            self.refreshed += len(part)
        self.upto[rows] = self.t

    def farthest(self) -> tuple[int, float]:
        """(row, squared distance) of the row farthest from every center, lowest row on ties."""
        if self.applied == self.t:
            c = int(np.argmax(self.mind))
            return c, float(self.mind[c])
        while True:
            rows = self.order[: self.m]
            self._refresh(rows)
            vals = self.mind[rows]
            best = np.lexsort((rows, -vals))[0]  # largest value, then lowest row
            # every other row's bound is <= order_d2[m] (<= order_d2[-1] for rows outside order)
            bound = self.order_d2[self.m] if self.m < len(self.order) else self.order_d2[-1]
            if vals[best] > bound or self.m == self.n:
                return int(rows[best]), float(vals[best])
            if self.m == len(self.order):
                self.flush()
                return self.farthest()
            self.m = min(2 * self.m, len(self.order))


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

    ``O(n k^2 d)`` time in float64 (``scipy.spatial.distance.cdist``); only for tests and as
    the benchmark baseline.
    """
    from scipy.spatial.distance import cdist

    n = len(x)
    if k >= n:
        return keep_all(n, k)
    x = np.asarray(x, dtype=np.float64)
    chosen = [first_center(x, first, seed)]
    distances = [np.inf]
    while True:
        d = cdist(x, x[chosen]).min(axis=1)  # (n,) from scratch, every step
        if len(chosen) == k:
            return Selection(np.array(chosen, np.int64), np.array(distances, np.float32), float(d.max()))
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        distances.append(float(d[nxt]))
