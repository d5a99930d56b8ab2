"""The held-out signal on Ray: a task per Parquet file and round, one per domain to build it; the driver keeps references.

The rounds are the pure bodies of :mod:`gre_ray.train.signal_pool` (read there in order) and
:mod:`gre_ray.train.signal_store`; this module only fans them out over the files of
``interactions`` and ``items``, folds their results as they arrive, and runs one task per
domain that builds its :class:`~gre_ray.train.signal.DomainSignal` and writes it to the
signal folder. The driver holds at most ``cap`` user ids, ``pool`` item hashes and the ids
the candidate users' rows name per domain, and those users' rows; the pools' texts go from
the item files to staged Parquet parts to each domain's files, never through it. What it
returns is a :class:`~gre_ray.train.signal_store.SignalRef` per domain (counts and a URI).
:func:`gre_ray.train.signal.signal_tasks` is the same computation in one process
(tests/train/test_signal_pool.py proves the signals read back equal it).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.storage import Location
from gre_ray.train import signal_pool as sp
from gre_ray.train import signal_store as store
from gre_ray.train.signal import wanted_extra
from gre_ray.train.signal_store import SignalRef


def _files(loc: Location) -> list[Location]:
    return [Location(loc.fs, f.path, loc.query) for f in loc.files()]


def _read_then(body: Callable, file: Location, columns: list[str], domains: list[str], *args: Any) -> Any:
    """``body`` of the rows of ``domains`` in one file (the task every round runs)."""
    return body(sp.read_file(file, columns, domains), *args)


def _fold(refs: list, merge: Callable[[list], Any]) -> Any:
    """``merge`` of the tasks' results, folded as each arrives (the running merge and one result in memory)."""
    import ray

    acc: list = []
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        acc = [merge(acc + [ray.get(done[0])])]
    return merge(acc)


def signal_domains(
    items: Location, interactions: Location, domains: Sequence[str], fraction: float, seed: int,
    max_users: int, pool: int, out: Location,
) -> tuple[list[SignalRef], dict[str, dict[str, int]]]:
    """Each training domain's held-out users as a task, built file by file on Ray and written under ``out``.

    Args:
        items, interactions: the artifacts (folders of Parquet files).
        domains: the domains to read (the training-role ones).
        fraction, seed, max_users, pool: as :func:`gre_ray.train.signal.signal_tasks`.
        out: the signal folder (replaced): ``<domain>/`` per domain
            (:mod:`gre_ray.train.signal_store`); its staged parts are removed at the end.

    Returns:
        A reference per domain with items (sorted), and per domain the interaction ``rows``
        and the ``held`` rows of held-out users (to tell a domain the split left empty).
    """
    import ray

    domains = sorted(domains)
    task = ray.remote(num_cpus=1)(_read_then)
    cap = max_users * sp.CANDIDATES_PER_USER
    inter_files, item_files = _files(interactions), _files(items)
    icol, tcol = sp.INTERACTION_COLUMNS, sp.ITEM_COLUMNS
    out.remove()
    parts = out / store.PARTS

    users = _fold([task.remote(sp.user_candidates, f, icol, domains, fraction, seed, cap) for f in inter_files],
                  lambda xs: sp.merge_candidates(xs, cap))
    counts = {d: {"rows": u["rows"], "held": u["held"]} for d, u in users.items()}
    chosen = ray.put({d: u["users"] for d, u in users.items()})
    del users
    got = ray.get([task.remote(sp.candidate_rows, f, icol, domains, chosen) for f in inter_files])  # in file order
    rows = (pa.concat_tables(got, promote_options="permissive") if got
            else pa.table({c: pa.array([], pa.string()) for c in icol}))
    del got

    summary = _fold([task.remote(sp.item_summary, f, tcol, domains, seed, pool) for f in item_files],
                    lambda xs: sp.merge_summaries(xs, pool))
    catalogue = {d: s["items"] for d, s in summary.items()}
    limits = sp.thresholds(summary, pool)
    del summary
    per_domain = dict(sp.by_domain(rows))
    named = ray.put({d: pc.unique(part.column("item_id")) for d, part in per_domain.items()})
    looked = store.merge_found(ray.get([task.remote(store.stage_lookup, f, tcol, domains, named, limits, seed, parts, i)
                                        for i, f in enumerate(item_files)]))
    empty = rows.slice(0, 0)
    extra_ids = {d: wanted_extra(per_domain.get(d, empty), looked[d]["found"], looked[d]["sampled"], max_users)
                 for d in looked}
    extra_ids = {d: ids for d, ids in extra_ids.items() if len(ids)}
    if extra_ids:
        wanted = ray.put(extra_ids)
        ray.get([task.remote(store.stage_texts, f, tcol, domains, wanted, parts, i) for i, f in enumerate(item_files)])
    build = ray.remote(num_cpus=1)(store.build_domain)
    refs = [build.remote(domain, k, per_domain.get(domain, empty), looked[domain]["found"], out,
                         catalogue[domain], seed, max_users)
            for k, domain in enumerate(domains) if domain in looked]
    signals = ray.get(refs)
    parts.remove()
    return signals, counts


def center_texts(signals: Sequence[SignalRef], limit: int) -> list[str]:
    """A stride of at most ``limit`` texts over the pools of ``signals`` joined in order, each
    domain's share read by a task of its own (:func:`gre_ray.train.signal_store.center_slices`)."""
    import ray

    read = ray.remote(num_cpus=1)(store.strided_texts)
    slices = store.center_slices([s.pool for s in signals], limit)
    picked = ray.get([read.remote(s.uri, *where) for s, where in zip(signals, slices) if where[0] < where[1]])
    return [text for part in picked for text in part]
