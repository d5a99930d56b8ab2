"""Coreset selection on Ray Data and Ray tasks: the driver holds per-domain counts and object refs only.

The ``coreset`` stage's Ray wiring, in rounds (the algorithms are the pure :mod:`gre_ray.coreset`,
the task bodies :mod:`gre_ray.coreset.rounds`):

1. **vectors** (one task per domain): the domain's item ids, sorted, with their vectors
   read from ``embeddings`` (a filtered read, never the whole table in one process);
   duplicate ids and, with ``on_missing_embedding: error``, missing vectors fail here,
   before any text is tokenised;
2. **quality** (Ray Data): items streamed from Parquet, validated per block, annotated by an
   actor pool of :class:`gre_ray.coreset.quality.QualityAnnotator` and kept as blocks in
   the object store;
3. **filters** (one task per domain): the domain's rows, ordered by item id, through the
   filter chain of :mod:`gre_ray.coreset.filters`; exact and near duplicates removed per
   domain, or, with ``dedup_scope: global``, exact duplicates by hash partition (each
   partition task sees every copy of its hashes, in domain then item-id order) and near
   duplicates in one task over the survivors' vectors, or, above
   ``quality.dedup_rows_per_task`` survivors, one task per coarse cell of the vectors and
   one task that resolves the cells' pairs (:mod:`gre_ray.coreset.near_cells`; no task
   holds more than a cell's vectors, and the kept rows are those of the one-task path);
4. **budgets** in the driver, from the per-domain survivor counts;
5. **selection** per domain: k-center greedy, or the two-stage path (shard tasks + merge)
   above ``max_points_per_task``, or k-means medoids;
6. **write** (one task per domain): the selected rows, with their texts from the blocks,
   as one Parquet part per domain, in domain order.

Every step keeps the order and seeds of the former in-driver path, so the corpus is the same
(tests/coreset/test_stage.py compares it with :func:`gre_ray.coreset.select.select_domain`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from gre_ray.coreset import rounds
from gre_ray.coreset.config import CoresetConfig, DedupScope, SelectionMethod
from gre_ray.data.storage import Location
from gre_ray.pairs.shards import shard_of, string_hash

HASH_SHARDS = 4


# ---------------------------------------------------------------- 1. vectors per domain


def domain_counts(items: Location) -> dict[str, int]:
    """Items per domain, counted in a task (:func:`gre_ray.coreset.rounds.domain_counts`)."""
    import ray

    return ray.get(ray.remote(num_cpus=1)(rounds.domain_counts).remote(items))


def domain_vectors(items: Location, embeddings: Location, domains: list[str]) -> tuple[list[list[Any]], dict[str, dict]]:
    """A task per domain reads its sorted ids and vectors (:func:`gre_ray.coreset.rounds.domain_vectors`).

    Returns:
        The tasks' refs ``[info, ids, vectors, found]`` per domain, and each domain's info
        (items, missing, matched, dim), fetched.
    """
    import ray

    vectors = ray.remote(num_cpus=1)(rounds.domain_vectors).options(num_returns=4)
    vec_refs = [vectors.remote(items, embeddings, d) for d in domains]
    return vec_refs, dict(zip(domains, ray.get([v[0] for v in vec_refs])))


# ---------------------------------------------------------------- 2. quality on Ray Data


def annotated_blocks(items: Location, domains: list[str], cfg: CoresetConfig) -> list[Any]:
    """Object refs of the items of ``domains`` with their quality signals (blocks stay in the object store)."""
    import ray

    from gre_ray.coreset.quality import QualityAnnotator

    ds = ray.data.read_parquet(items.path, filesystem=items.fs)
    ds = ds.map_batches(rounds.validated, fn_args=(items.uri, domains), batch_format="pyarrow", batch_size=None)
    ds = ds.map_batches(
        QualityAnnotator,
        fn_constructor_kwargs={"tokenizer": cfg.quality.tokenizer},
        batch_size=cfg.annotate_batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cfg.annotate_concurrency),
        num_cpus=1,
    )
    return list(ds.materialize().to_arrow_refs())


# ---------------------------------------------------------------- 3. filters


def _exact_partition(part: int, parts: int, *states: rounds.DomainState) -> list[np.ndarray]:
    """Rows (per domain) that repeat the hash of an earlier row, among the hashes of partition ``part``."""
    from gre_ray.coreset.dedup import exact_duplicate_keep

    hashes, owner, rows = [], [], []
    for j, s in enumerate(states):
        mine = np.flatnonzero(shard_of(string_hash(pa.array(s.hashes.tolist(), pa.string())), parts) == part)
        hashes.append(s.hashes[mine])
        owner.append(np.full(len(mine), j))
        rows.append(mine)
    h, o, r = (np.concatenate(x) if x else np.zeros(0) for x in (hashes, owner, rows))
    drop = ~exact_duplicate_keep(h) if len(h) else np.zeros(0, dtype=bool)
    out = [r[drop & (o == j)].astype(np.int64) for j in range(len(states))]
    return out[0] if len(out) == 1 else out  # one return value when there is one domain


def filtered_states(domains: list[str], vec_refs: list[list[Any]], blocks: list[Any], cfg: CoresetConfig) -> list[Any]:
    """Refs of each domain's :class:`~gre_ray.coreset.rounds.DomainState` after every filter."""
    import ray

    task = ray.remote(num_cpus=1)
    states = [task(rounds.filter_domain).remote(d, cfg, v[1], v[2], v[3], *blocks) for d, v in zip(domains, vec_refs)]
    q = cfg.quality
    if q.dedup_scope is DedupScope.GLOBAL and q.exact_dedup:
        part = task(_exact_partition).options(num_returns=len(domains))
        dropped = [part.remote(p, HASH_SHARDS, *states) for p in range(HASH_SHARDS)]
        dropped = [[x] if len(domains) == 1 else x for x in dropped]
        states = [task(rounds.drop_rows).remote(s, "exact_duplicate", *[dr[j] for dr in dropped])
                  for j, s in enumerate(states)]
    if q.dedup_scope is DedupScope.GLOBAL and q.near_dup_threshold is not None:
        sizes = [n for n, _ in ray.get([task(rounds.survivors).remote(s) for s in states])]
        if sum(sizes) > q.dedup_rows_per_task:
            return _near_in_cells(states, sizes, cfg)
        out = task(rounds.near_global).options(num_returns=len(domains)).remote(cfg, *states)
        states = [out] if len(domains) == 1 else list(out)
    return states


def _near_in_cells(states: list[Any], sizes: list[int], cfg: CoresetConfig) -> list[Any]:
    """Global near duplicates, one task per coarse cell (:mod:`gre_ray.coreset.near_cells`); refs of the states."""
    import ray

    from gre_ray.coreset import near_cells as nc
    from gre_ray.coreset.select import domain_seed

    task = ray.remote(num_cpus=1)
    q, seed = cfg.quality, domain_seed(cfg.seed, "near_duplicate")
    total = sum(sizes)
    cells = nc.cells_for(total, q.dedup_rows_per_task)  # the samples hold at least this many rows
    share = [-(-nc.SAMPLE_PER_CELL * cells * n // total) for n in sizes]  # sample rows per domain
    samples = [task(rounds.state_sample).remote(s, m, seed + j)
               for j, (s, m) in enumerate(zip(states, share))]
    centroids = task(nc.coarse_centroids).remote(cells, seed, *samples)
    offsets = np.cumsum([0, *sizes[:-1]])
    assign = task(rounds.state_cells).options(num_returns=cells)
    parts = [assign.remote(s, int(o), centroids, q.near_dup_threshold) for s, o in zip(states, offsets)]
    parts = [[p] if cells == 1 else p for p in parts]
    pairs = [task(nc.cell_pairs).remote(q.near_dup_threshold, seed, *[p[c] for p in parts]) for c in range(cells)]
    dropped = task(nc.resolve).options(num_returns=len(states)).remote(sizes, *pairs)
    dropped = [dropped] if len(states) == 1 else dropped
    return [task(rounds.drop_rows).remote(s, "near_duplicate", d) for s, d in zip(states, dropped)]


def survivors(states: dict[str, Any]) -> dict[str, tuple[int, list[dict]]]:
    """Each domain's surviving rows and filter log, fetched from its state's ref."""
    import ray

    count = ray.remote(num_cpus=1)(rounds.survivors)  # no zero-CPU tasks: each may start a worker
    return dict(zip(states, ray.get([count.remote(s) for s in states.values()])))


# ---------------------------------------------------------------- 5. selection


def select(states: dict[str, Any], sizes: dict[str, int], counts: dict[str, int], cfg: CoresetConfig) -> dict[str, Any]:
    """Refs of each domain's :class:`gre_ray.coreset.kcenter.Selection` (domains with a budget only)."""
    import ray

    from gre_ray.coreset.select import domain_seed, num_shards
    from gre_ray.coreset.two_stage import shard_rows, shard_seed

    sel_cfg = cfg.selection
    one, shard, merge, points = (ray.remote(num_cpus=1)(f) for f in (rounds.select_one, rounds.shard_select, rounds.merge_select,
                                                                     rounds.points))
    pending = {}
    for d, k in counts.items():
        n = sizes[d]
        if k == 0:
            continue
        x_ref = points.remote(states[d], sel_cfg.normalize)
        seed = domain_seed(cfg.seed, d)
        shards = num_shards(n, sel_cfg)
        if sel_cfg.method is SelectionMethod.KCENTER and shards > 1 and k < n:
            parts = [shard.remote(x_ref, part, k, sel_cfg, shard_seed(seed, i))
                     for i, part in enumerate(shard_rows(n, shards, seed))]
            pending[d] = merge.remote(x_ref, k, sel_cfg, seed, *parts)
        else:
            pending[d] = one.remote(x_ref, k, sel_cfg, seed)
    return pending


# ---------------------------------------------------------------- 6. write


def write_corpus(states: dict[str, Any], selections: dict[str, Any], blocks: list[Any], out: Location) -> dict[str, dict]:
    """Write every selected domain (parts in domain order); returns per-domain selection stats."""
    import ray

    write = ray.remote(num_cpus=1)(rounds.write_domain)
    refs = {d: write.remote(states[d], ref, out, j, *blocks) for j, (d, ref) in enumerate(selections.items())}
    return {d: ray.get(r) for d, r in refs.items()}


