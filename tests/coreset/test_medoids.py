"""k-means medoids: distinct real points, one per well-separated cluster, exact radius."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.coreset.config import SelectionConfig, SelectionMethod
from gre_ray.coreset.kcenter import covering_radius
from gre_ray.coreset.medoids import kmeans_medoids
from gre_ray.coreset.select import select_domain


def test_one_medoid_per_separated_cluster():
    rng = np.random.default_rng(0)
    centers = np.eye(6, 8, dtype=np.float32) * 20
    labels = np.repeat(np.arange(6), [50, 40, 30, 20, 15, 10])
    x = centers[labels] + rng.standard_normal((len(labels), 8)).astype(np.float32) * 0.2
    sel = kmeans_medoids(x, 6, seed=1)
    assert sorted(labels[sel.indices].tolist()) == list(range(6))
    assert labels[sel.indices[0]] == 0  # largest cluster first
    assert sel.radius == pytest.approx(covering_radius(x, x[sel.indices]), rel=1e-4)
    assert (sel.distances < 1.0).all()  # medoids sit next to their centroids
    again = kmeans_medoids(x, 6, seed=1)
    np.testing.assert_array_equal(sel.indices, again.indices)


def test_medoids_are_distinct_even_with_duplicate_points():
    x = np.repeat(np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32), 4, axis=0)  # (20, 4)
    sel = kmeans_medoids(x, 8, seed=0)
    assert len(set(sel.indices.tolist())) == 8


def test_select_domain_dispatch():
    x = np.random.default_rng(2).standard_normal((300, 6)).astype(np.float32)
    medoids = SelectionConfig(method=SelectionMethod.KMEANS_MEDOIDS)
    assert select_domain(x, 10, medoids, 0).extra["path"] == "kmeans_medoids"
    assert select_domain(x, 10, SelectionConfig(), 0).extra["path"] == "kcenter"
    assert select_domain(x, 10, SelectionConfig(max_points_per_task=100), 0).extra["path"] == "kcenter_two_stage"
    whole = select_domain(x, 300, SelectionConfig(), 0)
    assert whole.extra["path"] == "all" and len(whole.indices) == 300
