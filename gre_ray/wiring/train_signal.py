"""The held-out signal's inputs on Ray: one task per Parquet file and round, the driver folding bounded summaries.

The rounds are the pure bodies of :mod:`gre_ray.train.signal_pool` (read there in order);
this module only fans them out over the files of ``interactions`` and ``items`` and folds
their results as they arrive, so the driver holds at most ``cap`` user ids and ``pool``
item hashes per domain, the candidate users' rows and the pool's texts, never a whole
table. :func:`gre_ray.train.signal.signal_tasks` is the same computation in one process
(tests/train/test_signal_pool.py proves them equal).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.storage import Location
from gre_ray.train import signal_pool as sp
from gre_ray.train.signal import DomainSignal, build_task, wanted_extra


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
    max_users: int, pool: int,
) -> tuple[list[DomainSignal], dict[str, dict[str, int]]]:
    """Each training domain's held-out users as a task, built file by file on Ray.

    Returns:
        The tasks (domains with items, sorted) and per domain the interaction ``rows`` and
        the ``held`` rows of held-out users (to tell a domain the split left empty).
    """
    import ray

    domains = sorted(domains)
    task = ray.remote(num_cpus=1)(_read_then)
    cap = max_users * sp.CANDIDATES_PER_USER
    inter_files, item_files = _files(interactions), _files(items)
    icol, tcol = sp.INTERACTION_COLUMNS, sp.ITEM_COLUMNS

    users = _fold([task.remote(sp.user_candidates, f, icol, domains, fraction, seed, cap) for f in inter_files],
                  lambda parts: sp.merge_candidates(parts, cap))
    counts = {d: {"rows": u["rows"], "held": u["held"]} for d, u in users.items()}
    chosen = ray.put({d: u["users"] for d, u in users.items()})
    parts = ray.get([task.remote(sp.candidate_rows, f, icol, domains, chosen) for f in inter_files])  # in file order
    rows = pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({c: pa.array([], pa.string()) for c in icol})

    summary = _fold([task.remote(sp.item_summary, f, tcol, domains, seed, pool) for f in item_files],
                    lambda parts: sp.merge_summaries(parts, pool))
    per_domain = dict(sp.by_domain(rows))
    named = ray.put({d: pc.unique(part.column("item_id")) for d, part in per_domain.items()})
    looked = sp.merge_lookups(ray.get([task.remote(sp.item_lookup, f, tcol, domains, named,
                                                   sp.thresholds(summary, pool), seed) for f in item_files]))
    empty = rows.slice(0, 0)
    extra_ids = {d: wanted_extra(per_domain.get(d, empty), looked[d]["found"], looked[d]["sample"], max_users)
                 for d in looked}
    extra_ids = {d: ids for d, ids in extra_ids.items() if len(ids)}
    extra = sp.empty_items()
    if extra_ids:
        wanted = ray.put(extra_ids)
        extra = pa.concat_tables(ray.get([task.remote(sp.item_texts, f, tcol, domains, wanted) for f in item_files]),
                                promote_options="permissive")
    out = []
    for k, domain in enumerate(domains):
        if domain in looked:
            out.append(build_task(domain, k, per_domain.get(domain, empty), looked[domain]["found"],
                                  looked[domain]["sample"], extra.filter(pc.equal(extra.column("domain"), domain)),
                                  summary[domain]["items"], seed, max_users))
    return out, counts
