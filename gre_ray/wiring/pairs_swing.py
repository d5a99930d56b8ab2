"""The Swing layout of pair mining on Ray: a task per domain, shards of users, a task per domain to select.

One task per domain prepares its sequences; each domain's users are cut into shards of about
``rows_per_shard`` interactions, one task per shard counts a partial sparse matrix (Swing:
one task per range of first users), the partials are summed; one task per domain scores,
filters and finds negatives. Swing keeps this per-domain layout because it samples every
item's users in one place (cosine and PMI run sharded, :mod:`gre_ray.wiring.pairs_sharded`).
All the maths is the pure :mod:`gre_ray.pairs` core, which
:func:`gre_ray.pairs.mine.mine_domain` runs in one process.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.heldout_users import drop_heldout_users
from gre_ray.data.schema import INTERACTIONS, ITEMS, embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import read_table
from gre_ray.pairs.config import CoocScore, PairsConfig
from gre_ray.pairs.cooccurrence import cooccurrence_counts, sum_counts
from gre_ray.pairs.domain import PreparedDomain, domain_items, prepare_domain
from gre_ray.pairs.mine import DomainPairs, select_pairs, swing_input
from gre_ray.pairs.scores import swing_partial
from gre_ray.runner.stage import StageContext


def _prepare(domain: str, items: pa.Table, embeddings: pa.Table, interactions: pa.Table, config: PairsConfig) -> PreparedDomain:
    return prepare_domain(interactions, domain_items(domain, items, embeddings), config)


def mine_per_domain(ctx: StageContext, config: PairsConfig, choose: Callable[[list[str]], list[str]]) -> dict[str, DomainPairs]:
    """Mine every chosen domain's pairs, a domain per task (Swing samples every item's users in one place).

    Args:
        ctx: the ``pairs`` stage's context (inputs; ``rows_in``, warnings and
            ``heldout_user_rows`` are recorded in it).
        config: the pairs settings.
        choose: picks the domains to mine from those with interactions.

    Returns:
        The pairs and figures of each mined domain.
    """
    import ray

    items = read_table(ctx.input("items"), ITEMS)
    interactions = read_table(ctx.input("interactions"), INTERACTIONS)
    interactions, ctx.stats["heldout_user_rows"] = drop_heldout_users(interactions, config.heldout_users, config.seed)
    raw_embeddings = read_table(ctx.input("embeddings"))
    dim = embedding_dim(raw_embeddings.schema, ctx.input("embeddings").uri)
    embeddings = validate_table(raw_embeddings, embeddings_contract(dim), ctx.input("embeddings").uri)

    present = sorted(set(interactions.column("domain").to_pylist()))
    domains = choose(present)
    known_domains = set(items.column("domain").to_pylist())
    for d in domains:
        if d not in known_domains:
            ctx.warn(f"pairs: domain {d!r} has interactions but no items; all its interactions are unknown items")
    emb_ref = ray.put(embeddings)
    prepare = ray.remote(num_cpus=1)(_prepare)
    prepared_refs = {}
    for d in domains:
        inter_d = interactions.filter(pc.equal(interactions.column("domain"), d))
        ctx.count(rows_in=inter_d.num_rows)
        items_d = items.filter(pc.equal(items.column("domain"), d))
        prepared_refs[d] = prepare.remote(d, items_d, emb_ref, inter_d, config)

    count = ray.remote(num_cpus=1)(cooccurrence_counts)
    swing = ray.remote(num_cpus=1)(swing_partial)
    select = ray.remote(num_cpus=1)(select_pairs)
    partials: dict[str, list] = {}
    whole_parts: dict[str, list] = {}
    swing_parts: dict[str, list] = {}
    for d, ref in prepared_refs.items():
        prepared: PreparedDomain = ray.get(ref)
        shards = prepared.sequences.shards(config.rows_per_shard)
        partials[d] = [count.remote(shard, config.window) for shard in shards]
        if config.window is not None:  # negatives avoid pairs anywhere in a history
            whole_parts[d] = [count.remote(shard, None) for shard in shards]
        if config.score == CoocScore.SWING:
            x, weights = swing_input(prepared, config)
            x_ref, w_ref = ray.put(x), ray.put(weights)
            bounds = np.cumsum([0] + [s.n_users for s in shards])
            swing_parts[d] = [
                swing.remote(x_ref, w_ref, config.swing_alpha, (int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])
            ]
    result_refs = {}
    for d, ref in prepared_refs.items():
        counts = sum_counts(ray.get(partials[d]))
        swing_matrix = sum_counts(ray.get(swing_parts[d])) if d in swing_parts else None
        together = sum_counts(ray.get(whole_parts[d])) if d in whole_parts else None
        result_refs[d] = select.remote(ref, counts, config, swing_matrix, together)
    return {d: ray.get(r) for d, r in result_refs.items()}
