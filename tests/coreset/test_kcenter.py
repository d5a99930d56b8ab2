"""k-center greedy: equals the brute-force reference, meets the 2-approximation, is deterministic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gre_ray.coreset.config import FirstCenter
from gre_ray.coreset.kcenter import covering_radius, first_center, kcenter_greedy, kcenter_naive


def _points(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


@pytest.mark.parametrize("first", list(FirstCenter))
@pytest.mark.parametrize("block", [1, 4, 256])
@pytest.mark.parametrize("n,d,k,chunk", [(200, 8, 25, 7), (301, 3, 60, 64), (120, 32, 119, 1000), (1500, 16, 70, 256)])
def test_equals_brute_force_reference(n, d, k, chunk, block, first):
    x = _points(n, d, seed=n + d)
    ref = kcenter_naive(x, k, first=first, seed=5)
    got = kcenter_greedy(x, k, first=first, seed=5, chunk_size=chunk, block=block)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.distances[1:], ref.distances[1:], rtol=1e-5, atol=1e-5)
    assert got.radius == pytest.approx(ref.radius, rel=1e-5, abs=1e-5)
    assert got.radius == pytest.approx(covering_radius(x, x[got.indices]), rel=1e-5, abs=1e-5)


def test_blocked_passes_equal_per_step_updates_on_clustered_data():
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((20, 16)).astype(np.float32) * 10
    x = centers[rng.integers(20, size=3000)] + rng.standard_normal((3000, 16)) * 0.1  # float64: norms ~40
    a, b = kcenter_greedy(x, 200, block=64, chunk_size=700), kcenter_greedy(x, 200, block=1)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.indices, kcenter_naive(x, 200).indices)
    assert a.radius == pytest.approx(b.radius, rel=1e-9)
    # float32: |x|^2 + |c|^2 - 2 x.c rounds at ~1e-7 |x|^2, so near ties may go either way
    c = kcenter_greedy(x.astype(np.float32), 200, block=64)
    assert c.radius == pytest.approx(a.radius, rel=1e-3)
    assert b.extra["full_passes"] == 200  # one pass per center
    assert a.extra["full_passes"] < 200 / 8  # one pass per block of 64, plus a few early ones


def _optimal_radius(x: np.ndarray, k: int) -> float:
    """Exhaustive k-center optimum with centers among the points."""
    dist = np.linalg.norm(x[:, None] - x[None], axis=2)
    return min(dist[:, list(c)].min(axis=1).max() for c in itertools.combinations(range(len(x)), k))


@pytest.mark.parametrize("seed", range(12))
def test_two_approximation_against_exhaustive_optimum(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(7, 11)), int(rng.integers(2, 4))
    x = rng.standard_normal((n, 2)) * rng.uniform(0.5, 3.0, size=2)
    opt = _optimal_radius(x, k)
    for first in FirstCenter:
        for s in range(3):
            got = kcenter_greedy(x, k, first=first, seed=s)
            assert opt <= got.radius + 1e-9
            assert got.radius <= 2 * opt + 1e-9


def test_selection_distances_do_not_increase():
    sel = kcenter_greedy(_points(500, 10, 1), 80)
    assert np.isinf(sel.distances[0])
    assert np.all(np.diff(sel.distances[1:]) <= 1e-6)
    assert sel.radius <= sel.distances[-1] + 1e-6
    assert len(set(sel.indices.tolist())) == 80


def test_deterministic_by_seed_and_first_center_rule():
    x = _points(400, 12, 2)
    a, b = kcenter_greedy(x, 30, seed=11), kcenter_greedy(x, 30, seed=11)
    np.testing.assert_array_equal(a.indices, b.indices)
    firsts = {int(kcenter_greedy(x, 5, seed=s).indices[0]) for s in range(6)}
    assert len(firsts) > 1  # the seed picks the first center
    assert firsts == {first_center(x, FirstCenter.SEEDED, s) for s in range(6)}
    nearest = {int(kcenter_greedy(x, 5, first=FirstCenter.NEAREST_MEAN, seed=s).indices[0]) for s in range(6)}
    assert nearest == {int(np.argmin(np.linalg.norm(x - x.mean(axis=0), axis=1)))}


def test_k_at_least_n_keeps_everything_with_a_message():
    x = _points(10, 4, 0)
    for k in (10, 25):
        sel = kcenter_greedy(x, k)
        np.testing.assert_array_equal(sel.indices, np.arange(10))
        assert np.isnan(sel.distances).all() and sel.radius == 0.0
        assert f"k={k} >= n=10" in sel.message
    assert len(kcenter_greedy(x, 0).indices) == 0
    with pytest.raises(ValueError, match="k must be >= 0"):
        kcenter_greedy(x, -1)


def test_read_only_and_float64_inputs():
    x = _points(150, 6, 4)
    x.setflags(write=False)  # as a Ray object arrives in a task
    ref = kcenter_greedy(x.copy(), 20)
    np.testing.assert_array_equal(kcenter_greedy(x, 20).indices, ref.indices)
    np.testing.assert_array_equal(kcenter_greedy(x.astype(np.float64), 20).indices, ref.indices)
