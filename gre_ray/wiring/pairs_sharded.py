"""Pair mining sharded by user and by item pair on Ray tasks: the driver holds counts and object refs only.

The ``pairs`` stage's path for the count-based scores (cosine, PMI). Rounds of Ray tasks,
each reading the previous round's objects from the object store (which spills to disk when
full), never the driver; the task bodies are the plain functions of :mod:`gre_ray.pairs.rounds`:

1. **read**: one task per interactions file validates it and cuts its rows by a hash of the
   user id into ``U`` user shards (file order kept, so ties in time still break by row order);
2. **items**: one task per domain builds its vocabulary and unit guide vectors;
3. **user shards**: each builds its users' sequences (sort, de-duplication, cap), counts
   co-occurrence, and sends every counted pair to the pair shard of a hash of the pair;
4. **pair shards**: each sums its pairs' counts over user shards, keeps the ``min_support``
   ones, scores them, takes their text similarity from the domain's vectors, and sends its
   local per-item top-k to the item shards (:mod:`gre_ray.pairs.shards`), which send back
   the globally selected pairs;
5. **thresholds**: per domain, by exact distributed selection over the pair shards
   (:mod:`gre_ray.wiring.pairs_thresholds`, :mod:`gre_ray.pairs.quantiles`): bit-identical
   to ``np.quantile`` over the joined candidates;
6. **negatives**: one task per domain, where its vectors are, searches neighbours and asks
   whether a neighbour co-occurs with the anchor: the pair shards' co-occurring keys are
   loaded (during steps 4–5) into a few long-lived actors
   (:mod:`gre_ray.wiring.pair_key_holders`), one batched call per actor per search round;
7. **write**: each pair shard writes its kept pairs, with texts and negatives, as one Parquet part.

Every task takes one CPU; ``U`` is bounded by the cluster's CPUs whatever ``rows_per_shard``
is, and ``P`` (one per million interactions, 2 to 64) does not depend on the cluster, so
neither does the written folder (:class:`gre_ray.pairs.rounds.Layout`). The result equals
:func:`gre_ray.pairs.mine.mine_domain` run per domain in one process
(tests/pairs/test_sharded.py); only the row order of the written folder differs (by
shard, then domain and item pair).
"""

from __future__ import annotations

from typing import Any

from gre_ray.data.storage import Location
from gre_ray.pairs import rounds
from gre_ray.pairs.config import PairsConfig
from gre_ray.pairs.evaluate import planted_summary
from gre_ray.wiring.pair_key_holders import KeyHolders, default_holders
from gre_ray.wiring.pairs_thresholds import choose_thresholds, kept_distributions

# ---------------------------------------------------------------- the driver


def mine_sharded(ctx: Any, config: PairsConfig, choose_domains) -> dict[str, dict]:
    """Run the rounds for the chosen domains; writes ``pairs`` and returns the per-domain stats.

    Args:
        ctx: the stage context (inputs, output, counters, warnings).
        config: the pairs settings (a count-based score).
        choose_domains: (present domains) → domains to mine (reads the ``domains`` artifact).
    """
    import ray

    task = ray.remote(num_cpus=1)
    inter, items_loc, emb_loc = ctx.input("interactions"), ctx.input("items"), ctx.input("embeddings")
    files = [Location(inter.fs, f.path, inter.query) for f in inter.files()]
    rows = sum(ray.get([task(rounds.file_rows).remote(f) for f in files]))
    layout = rounds.Layout.of(rows, config, int(ray.cluster_resources().get("CPU", 1)))
    U, P = layout.user_shards, layout.pair_shards
    read = task(rounds.read_file).options(num_returns=U + 1)
    cut = [read.remote(f, U, config.heldout_users, config.seed) for f in files]
    domain_rows: dict[str, int] = {}
    held = 0
    for counts, held_rows in ray.get([c[0] for c in cut]):
        held += held_rows
        for d, n in counts.items():
            domain_rows[d] = domain_rows.get(d, 0) + n
    ctx.stats["heldout_user_rows"] = held
    domains = choose_domains(sorted(domain_rows))
    known = ray.get(task(rounds.item_domains).remote(items_loc))
    for d in domains:
        ctx.count(rows_in=domain_rows[d])
        if d not in known:
            ctx.warn(f"pairs: domain {d!r} has interactions but no items; all its interactions are unknown items")
    if not domains:
        return {}

    prep = [task(rounds.domain_prep).options(num_returns=6).remote(items_loc, emb_loc, d) for d in domains]
    vocab_refs, item_refs = [p[0] for p in prep], [p[1] for p in prep]
    vec_refs, has_refs, text_refs = [p[3] for p in prep], [p[4] for p in prep], [p[5] for p in prep]
    item_stats = dict(zip(domains, ray.get([p[2] for p in prep])))
    n_items = {d: s["items"] for d, s in item_stats.items()}
    for d in domains:
        if config.num_negatives and n_items[d] <= config.num_negatives:
            ctx.warn(f"pairs: domain {d!r} has {n_items[d]} items, not more than num_negatives "
                     f"({config.num_negatives}); its pairs get fewer hard negatives than asked")

    D = len(domains)
    user = task(rounds.user_shard).options(num_returns=P + 2 + D)
    counted = [user.remote(domains, config, P, *vocab_refs, *[c[1 + u] for c in cut]) for u in range(U)]
    del cut
    seq_stats = ray.get([c[0] for c in counted])
    merged = {d: rounds.merge_stats([s[d] for s in seq_stats]) for d in domains}
    n_users = {d: merged[d]["users"] for d in domains}
    sums = task(rounds.sum_arrays)  # one task per domain: no zero-CPU fan-out of U x D picks
    user_refs = [sums.remote(*[c[2 + P + j] for c in counted]) for j in range(D)]
    extras = [c[1] for c in counted]

    shard = task(rounds.pair_shard).options(num_returns=P + 3)
    reduced = [shard.remote(domains, config, n_users, P, *vec_refs, *has_refs, *user_refs, *[c[2 + p] for c in counted])
               for p in range(P)]
    del counted
    states = [r[0] for r in reduced]
    # The holders load the co-occurring keys while top-k and the thresholds run.
    A = (config.key_holders or default_holders(P)) if config.num_negatives else 0
    holders = KeyHolders([r[1] for r in reduced], A) if A else None
    pair_stats = ray.get([r[2] for r in reduced])
    if config.top_k is not None:
        ranked = [task(rounds.item_shard).remote(domains, n_items, config.top_k, P, *[r[3 + q] for r in reduced])
                  for q in range(P)]
        states = [task(rounds.apply_top_k).remote(s, n_items, p, *ranked) for p, s in enumerate(states)]
        del ranked
    del reduced

    chosen = choose_thresholds(states, domains, config)
    thresholds = {d: c[0] for d, c in chosen.items()}
    kept_dist = kept_distributions(states, thresholds)
    kept = [task(rounds.kept_pairs).remote(s, thresholds) for s in states]
    del states
    anchors = task(rounds.anchors_of)
    held_bytes = holders.ready() if holders is not None else 0
    try:
        negs = [task(rounds.domain_negatives).remote(d, item_refs[j], config, holders, len(extras), *extras,
                                        *[anchors.remote(k, d) for k in kept]) for j, d in enumerate(domains)]
        ray.wait(negs, num_returns=len(negs), fetch_local=False)
    finally:
        if holders is not None:
            holders.stop()
    planted: list[Any] = [None] * len(domains)
    if ctx.has_input("ground_truth"):
        planted = [task(rounds.domain_planted_keys).remote(item_refs[j], ctx.input("ground_truth"), d) for j, d in enumerate(domains)]
    out = ctx.out("pairs")
    written = ray.get([task(rounds.write_shard).remote(k, out, p, domains, config.num_negatives, *vocab_refs, *text_refs, *negs,
                                          *planted) for p, k in enumerate(kept)])

    per_domain: dict[str, dict] = {}
    for j, d in enumerate(domains):
        pairs_written = sum(w[d]["rows"] for w in written)
        found = sum(w[d]["found"] for w in written)
        stats: dict[str, Any] = {
            "sequences": merged[d], **item_stats[d],
            **{k: sum(s[d][k] for s in pair_stats) for k in ("cooccurring_pairs", "support_pairs")},
            "dropped_no_vector": sum(s[d]["dropped_no_vector"] for s in pair_stats),
            "candidates": chosen[d][1]["candidates"], "thresholds": thresholds[d].as_dict(),
            "kept": kept_dist[d]["kept"],
            "cooc_score": {"candidates": chosen[d][1]["score"], "kept": kept_dist[d]["score"]},
            "text_sim": {"candidates": chosen[d][1]["text"], "kept": kept_dist[d]["text"]},
            "support_kept": kept_dist[d]["support"],
            "negatives": {"per_pair": config.num_negatives,
                          "mean_found": round(found / pairs_written, 4) if pairs_written else None,
                          "pairs_short": sum(w[d]["short"] for w in written)},
            "layout": {"user_shards": U, "pair_shards": P, "key_holders": holders.n_holders if holders else 0,
                       "held_key_bytes": held_bytes},
        }
        keys = ray.get(planted[j]) if planted[j] is not None else None
        if keys is not None:
            stats["planted"] = planted_summary([w[d]["planted"] for w in written], n_items[d], len(keys))
        per_domain[d] = stats
    return per_domain
