"""Global near-duplicate removal in coarse cells finds the duplicates of the one-task path."""

from __future__ import annotations

import numpy as np
import pytest

from gre_ray.coreset import near_cells as nc
from gre_ray.coreset.dedup import near_duplicate_keep, normalize_rows


def _domains(seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """Three domains of clustered vectors; copies planted within and across domains, some between clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((6, 24)).astype(np.float32) * 2
    sizes = [140, 90, 170]
    doms = [centers[rng.integers(0, 6, n)] + rng.standard_normal((n, 24)).astype(np.float32) for n in sizes]
    mid = (centers[0] + centers[1]) / 2  # on the border of two clusters: its copies may land in either cell
    doms[0][5] = mid
    doms[1][7] = mid + rng.standard_normal(24).astype(np.float32) * 0.01  # across domains
    doms[2][30] = mid - rng.standard_normal(24).astype(np.float32) * 0.01
    doms[2][100] = doms[0][40] * 1.5  # same direction, other domain
    doms[1][80] = doms[1][10] + rng.standard_normal(24).astype(np.float32) * 0.02  # within a domain
    doms[2][160] = doms[0][120] + rng.standard_normal(24).astype(np.float32) * 0.02
    return doms, sizes


def _cells_keep(doms: list[np.ndarray], threshold: float, cells: int, seed: int = 3):
    sizes = [len(d) for d in doms]
    total = sum(sizes)
    share = [-(-nc.SAMPLE_PER_CELL * cells * n // total) for n in sizes]
    samples = [nc.sample_rows(d, m, seed + j) for j, (d, m) in enumerate(zip(doms, share))]
    centroids = nc.coarse_centroids(cells, seed, *samples)
    offsets = np.cumsum([0, *sizes[:-1]])
    parts = [nc.assign_cells(d, int(o), centroids, threshold) for d, o in zip(doms, offsets)]
    parts = [[p] if cells == 1 else p for p in parts]
    pairs = [nc.cell_pairs(threshold, seed, *[p[c] for p in parts]) for c in range(cells)]
    dropped = nc.resolve(sizes, *pairs)
    dropped = [dropped] if len(doms) == 1 else dropped
    keep = np.ones(total, dtype=bool)
    for o, d in zip(offsets, dropped):
        keep[o + d] = False
    largest = max(sum(len(p[c][0]) for p in parts) for c in range(cells))
    return keep, largest


@pytest.mark.parametrize("cells", [1, 2, 5, 12])
@pytest.mark.parametrize("threshold", [0.99, 0.9])
def test_cells_find_the_duplicates_of_one_task(cells, threshold):
    doms, sizes = _domains()
    one, pairs = near_duplicate_keep(normalize_rows(np.concatenate(doms)), threshold)
    got, largest = _cells_keep(doms, threshold, cells)
    assert got.tolist() == one.tolist()
    if threshold == 0.99:  # the planted copies, and nothing else
        planted = [140 + 7, 140 + 90 + 30, 140 + 90 + 100, 140 + 80, 140 + 90 + 160]
        assert sorted(np.flatnonzero(~one).tolist()) == sorted(planted)
        if cells > 1:
            assert largest < sum(sizes)  # no cell holds every row


def test_cells_keep_a_chain_like_the_greedy_pass():
    # a ~ b ~ c with a, c apart: one task keeps a and c; so must the cells, wherever b lands.
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([np.cos(0.3), np.sin(0.3), 0.0], np.float32)
    c = np.array([np.cos(0.6), np.sin(0.6), 0.0], np.float32)
    rest = np.random.default_rng(1).standard_normal((40, 3)).astype(np.float32) * np.array([0.1, 0.1, 1.0], np.float32)
    rest[:, 2] += np.where(np.arange(40) % 2, 5.0, -5.0)
    doms = [np.stack([a, c]), np.concatenate([b[None], rest])]
    one = near_duplicate_keep(normalize_rows(np.concatenate(doms)), float(np.cos(0.35)))[0]
    for cells in (1, 3, 6):
        assert _cells_keep(doms, float(np.cos(0.35)), cells)[0].tolist() == one.tolist()
    assert one[:3].tolist() == [True, True, False]


def test_stage_in_cells_equals_the_one_task_stage(ray_session, coreset_config, test_registry):
    import pyarrow.parquet as pq

    from gre_ray.runner.runner import run_pipeline

    one = run_pipeline(coreset_config, test_registry)[-1]
    corpus = pq.read_table(f"{one.folder}/corpus")
    coreset_config.coreset.quality.dedup_rows_per_task = 10  # ~60 survivors: six cells
    cells = run_pipeline(coreset_config, test_registry)[-1]
    assert cells.status == "ran"
    assert cells.manifest["stats"]["filters"] == one.manifest["stats"]["filters"]
    removed = {f["filter"]: f["removed_total"] for f in one.manifest["stats"]["filters"]}
    assert removed["near_duplicate"] == 1
    assert pq.read_table(f"{cells.folder}/corpus").equals(corpus)
