"""Pair mining sharded by user and by item pair on Ray tasks: the driver holds counts and object refs only.

The ``pairs`` stage's path for the count-based scores (cosine, PMI). Rounds of Ray tasks,
each reading the previous round's objects from the object store (which spills to disk when
full), never the driver:

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

The result equals :func:`gre_ray.pairs.mine.mine_domain` run per domain in one process
(tests/pairs/test_sharded.py); only the row order of the written folder differs (by
shard, then domain and item pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from gre_ray.data.heldout_users import drop_heldout_users
from gre_ray.data.schema import INTERACTIONS, ITEMS, PAIRS, embedding_dim, embeddings_contract, validate_table
from gre_ray.data.storage import Location, read_table
from gre_ray.pairs import shards as sh
from gre_ray.pairs.config import PairsConfig
from gre_ray.pairs.cooccurrence import cooccurrence_counts
from gre_ray.pairs.domain import DomainItems, domain_items
from gre_ray.pairs.evaluate import planted_counts, planted_keys, planted_summary
from gre_ray.pairs.mine import pair_similarity, pairs_table
from gre_ray.pairs.negatives import Cooccurring, SearchSettings, hard_negatives, normalized_text_keys
from gre_ray.pairs.scores import score_pairs
from gre_ray.pairs.sequences import SequenceStats, build_sequences, cap_sequences, item_index
from gre_ray.pairs.thresholds import ChosenThresholds
from gre_ray.wiring.pair_key_holders import KeyHolders, default_holders
from gre_ray.wiring.pairs_thresholds import choose_thresholds, kept_distributions

MAX_PAIR_SHARDS = 64
_COLUMNS = ["domain", "user_id", "item_id", "timestamp"]


@dataclass(frozen=True)
class Layout:
    """How many user shards (counting) and pair shards (summing, scoring, writing)."""

    user_shards: int
    pair_shards: int

    @staticmethod
    def of(rows: int, config: PairsConfig) -> "Layout":
        users = max(1, math.ceil(rows / config.rows_per_shard))
        pairs = config.pair_shards or min(MAX_PAIR_SHARDS, max(2, users))
        return Layout(users, pairs)


# ---------------------------------------------------------------- 1. read, cut by user


def _file_rows(file: Location) -> int:
    return pq.ParquetFile(file.path, filesystem=file.fs).metadata.num_rows


def _read_file(file: Location, user_shards: int, heldout_users: float = 0.0, seed: int = 0) -> list[Any]:
    """[(rows per domain, held-out rows), then the file's rows of each user shard]; held-out
    users' rows are counted, never mined (``heldout_users``: :mod:`gre_ray.train.signal` scores them)."""
    table = validate_table(pq.read_table(file.path, filesystem=file.fs), INTERACTIONS, file.uri).select(_COLUMNS)
    counts = pc.value_counts(table.column("domain")).to_pylist()
    table, held = drop_heldout_users(table, heldout_users, seed)
    shard = sh.shard_of(sh.string_hash(table.column("user_id")), user_shards)
    parts = [table.take(pa.array(rows)) for rows in sh.split_by_shard(shard, user_shards)]
    return [({c["values"]: int(c["counts"]) for c in counts}, held), *parts]


# ---------------------------------------------------------------- 2. items per domain


def _item_domains(items: Location) -> set[str]:
    return set(pc.unique(read_table(items, columns=["domain"]).column("domain")).to_pylist())


def _domain_items(items: Location, embeddings: Location, domain: str) -> list[Any]:
    """[vocabulary, items with unit vectors, stats, vectors, has-vector mask, texts] of one domain.

    The vectors, mask and Arrow columns are separate objects so that shard tasks read them
    zero-copy from the object store instead of unpickling the whole :class:`DomainItems`.
    """
    table = pq.read_table(items.path, filesystem=items.fs, filters=[("domain", "=", domain)])
    table = validate_table(table, ITEMS, items.uri)
    dim = embedding_dim(pq.read_schema(embeddings.files()[0].path, filesystem=embeddings.fs), embeddings.uri)
    emb = pq.read_table(embeddings.path, filesystem=embeddings.fs,
                        filters=pc.field("item_id").isin(table.column("item_id").combine_chunks()))
    emb = validate_table(emb, embeddings_contract(dim), embeddings.uri)
    di = domain_items(domain, table, emb)
    vocab = pa.array(di.item_ids.tolist(), pa.string())
    stats = {"items": di.n_items, "items_without_vector": int((~di.has_vector).sum())}
    return [vocab, di, stats, di.vectors, di.has_vector, pa.array(di.texts.tolist(), pa.string())]


# ---------------------------------------------------------------- 3. user shards


def _user_shard(domains: list[str], config: PairsConfig, pair_shards: int, *args: Any) -> list[Any]:
    """Count one user shard; returns [stats, capped histories, one payload per pair shard, then each
    domain's item-user counts] (one object per domain, so summing a domain reads only its arrays).

    ``args``: each domain's vocabulary, then this shard's rows of every interactions file.
    A payload maps domain → (pair keys, counts, keys of pairs together in a whole history
    or None when they are the counted keys).
    """
    vocabs, parts = args[: len(domains)], args[len(domains):]
    table = pa.concat_tables(parts)
    stats: dict[str, dict] = {}
    item_users: dict[str, np.ndarray] = {}
    extra: dict[str, sp.csr_matrix | None] = {}
    payloads: list[dict] = [{} for _ in range(pair_shards)]
    for d, vocab in zip(domains, vocabs):
        rows = table.filter(pc.equal(table.column("domain"), d))
        n = len(vocab)
        history, st = build_sequences(rows.column("user_id"), item_index(rows.column("item_id"), vocab),
                                      rows.column("timestamp").to_numpy(), n)
        capped = cap_sequences(history, config.max_items_per_user, config.seed, st)
        stats[d] = st.as_dict()
        item_users[d] = capped.item_user_counts()
        long = np.flatnonzero(history.lengths > config.max_items_per_user)
        extra[d] = history.user_item_matrix()[long] if len(long) else None
        keys, counts = _keys(cooccurrence_counts(capped, config.window))
        together = _keys(cooccurrence_counts(capped))[0] if config.window is not None else None
        t_at = sh.split_by_shard(sh.pair_shard(together, pair_shards), pair_shards) if together is not None else None
        for p, at in enumerate(sh.split_by_shard(sh.pair_shard(keys, pair_shards), pair_shards)):
            payloads[p][d] = (keys[at], counts[at], together[t_at[p]] if together is not None else None)
    return [stats, extra, *payloads, *(item_users[d] for d in domains)]


def _keys(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(counts.shape[0], dtype=np.int64), np.diff(counts.indptr))
    return sh.pair_keys(rows, counts.indices, counts.shape[0]), counts.data


def _sum_arrays(*arrays: np.ndarray) -> np.ndarray:
    return np.sum(arrays, axis=0)


# ---------------------------------------------------------------- 4. pair shards and top-k


def _pair_shard(domains: list[str], config: PairsConfig, n_users: dict[str, int], pair_shards: int,
                *args: Any) -> list[Any]:
    """Sum, filter and score one pair shard; returns [state, together keys, stats, top-k entries per item shard].

    ``args``: per domain its vectors, then per domain its has-vector mask, then per domain
    its |U_i|, then one payload from every user shard.
    """
    n = len(domains)
    vectors, has, item_users, payloads = args[:n], args[n : 2 * n], args[2 * n : 3 * n], args[3 * n :]
    state: dict[str, dict] = {}
    together: dict[str, np.ndarray] = {}
    stats: dict[str, dict] = {}
    out: list[dict] = [{} for _ in range(pair_shards)]
    for d, vec, has_vector, users in zip(domains, vectors, has, item_users):
        got = [p[d] for p in payloads if d in p]
        keys, counts = sh.reduce_counts([g[0] for g in got], [g[1] for g in got])
        together[d] = keys if config.window is None else np.unique(np.concatenate([g[2] for g in got] or [keys]))
        support = counts >= config.min_support
        support_keys = keys[support]
        rows, cols = sh.key_parts(support_keys, len(has_vector))
        usable = has_vector[rows] & has_vector[cols]
        rows, cols, sup = rows[usable], cols[usable], counts[support][usable]
        score = score_pairs(config.score, rows, cols, sup, users, n_users[d])
        text = pair_similarity(vec, rows, cols)
        state[d] = {"rows": rows, "cols": cols, "support": sup, "score": score, "text": text,
                    "support_keys": support_keys}
        stats[d] = {"cooccurring_pairs": int(len(keys)), "support_pairs": int(len(support_keys)),
                    "dropped_no_vector": int((~usable).sum())}
        if config.top_k is not None:
            item, partner, sc = sh.local_top_k(rows, cols, score, config.top_k)
            for q, at in enumerate(sh.split_by_shard(sh.item_shard(item, pair_shards), pair_shards)):
                out[q][d] = (item[at], partner[at], sc[at])
    return [state, together, stats, *out]


def _item_shard(domains: list[str], n_items: dict[str, int], k: int, pair_shards: int, *entries: dict) -> dict:
    """Rank the entries of one item shard; returns per domain (selected pair keys grouped by
    pair shard, (pair_shards + 1,) offsets of the groups).

    One object per item shard, not one per (item shard, pair shard): P² small results would
    be kept in the memory of their owner, the driver (Ray stores returns under 100 KB there).
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for d in domains:
        got = [e[d] for e in entries if d in e]
        keys = sh.global_top_k(*(np.concatenate([g[i] for g in got]) for i in range(3)), k, n_items[d]) if got \
            else np.zeros(0, np.int64)
        at = sh.split_by_shard(sh.pair_shard(keys, pair_shards), pair_shards)
        out[d] = (keys[np.concatenate(at)], np.cumsum([0, *map(len, at)]))
    return out


def _apply_top_k(state: dict, n_items: dict[str, int], part: int, *selected: dict) -> dict:
    """The shard's candidates: its pairs that some item ranked in its top k (``selected``: every item shard's result)."""
    out = {}
    for d, s in state.items():
        mine = [keys[offsets[part] : offsets[part + 1]] for keys, offsets in (x[d] for x in selected if d in x)]
        chosen = np.concatenate(mine or [np.zeros(0, np.int64)])
        keep = np.isin(sh.pair_keys(s["rows"], s["cols"], n_items[d]), chosen)
        out[d] = {**{c: v[keep] for c, v in s.items() if c != "support_keys"}, "support_keys": s["support_keys"]}
    return out


# ---------------------------------------------------------------- 6. negatives


def _keep(state: dict, chosen: dict[str, ChosenThresholds]) -> dict:
    """The shard's kept pairs (both thresholds passed); support keys kept for the planted figures."""
    out = {}
    for d, s in state.items():
        t = chosen[d]
        keep = (s["score"] >= t.cooc_min) & (s["text"] >= t.text_min)
        out[d] = {**{c: v[keep] for c, v in s.items() if c != "support_keys"}, "support_keys": s["support_keys"]}
    return out


def _anchors(state: dict, domain: str) -> np.ndarray:
    return np.unique(state[domain]["rows"]) if domain in state else np.zeros(0, np.int32)


class ShardedCooccurring(Cooccurring):
    """:class:`gre_ray.pairs.negatives.Cooccurring` whose pair set lives in the key holders.

    Each test sends the (anchor, candidate) keys in one batched call per holder
    (:class:`gre_ray.wiring.pair_key_holders.KeyHolders`); the capped users' whole
    histories are tested here as in the one-process path.
    """

    def __init__(self, holders: KeyHolders | None, domain: str, n_items: int, extra: sp.csr_matrix | None) -> None:
        super().__init__(sp.csr_matrix((n_items, n_items), dtype=np.int32), extra)
        self.holders, self.domain, self.n_items = holders, domain, n_items

    def test(self, anchors: np.ndarray, cands: np.ndarray) -> np.ndarray:
        out = super().test(anchors, cands)
        valid = cands >= 0
        a = np.broadcast_to(anchors[:, None], cands.shape)[valid]
        c = cands[valid]
        keys = sh.pair_keys(np.minimum(a, c), np.maximum(a, c), self.n_items)
        hit = self.holders.contains(self.domain, keys)
        hit &= a != c
        out[valid] |= hit
        return out


def _negatives(domain: str, di: DomainItems, config: PairsConfig, holders: KeyHolders | None, n_extras: int,
               *args: Any) -> tuple[np.ndarray, np.ndarray]:
    """(anchors ascending, (A, num_negatives) negatives) of one domain.

    ``args``: every user shard's capped histories, then every pair shard's anchors.
    """
    extras, anchor_parts = args[:n_extras], args[n_extras:]
    anchors = np.unique(np.concatenate(anchor_parts)).astype(np.int64) if anchor_parts else np.zeros(0, np.int64)
    rows = [e[domain] for e in extras if e.get(domain) is not None]
    extra = sp.vstack(rows).tocsr() if rows else None
    negatives = hard_negatives(
        anchors, di.vectors, di.has_vector, ShardedCooccurring(holders, domain, di.n_items, extra),
        normalized_text_keys(di.texts),
        SearchSettings(config.num_negatives, config.negative_max_sim, config.negative_exact_max_items,
                       config.negative_nprobe, config.seed),
    )
    return anchors, negatives


# ---------------------------------------------------------------- 7. write


def _write(state: dict, out: Location, part: int, domains: list[str], num_negatives: int, *args: Any) -> dict[str, dict]:
    """Write the shard's kept pairs as ``part-NNNNN.parquet``; returns per-domain counts.

    ``args``: per domain its ids, its texts (Arrow), its (anchors, negatives), its planted
    keys (or None). Only the rows of the ids and texts that the pairs use are converted.
    """
    n = len(domains)
    ids, texts, negs, planted = args[:n], args[n : 2 * n], args[2 * n : 3 * n], args[3 * n :]
    tables, stats = [], {}
    for j in sorted(range(n), key=lambda i: domains[i]):
        d, s, (anchors, negatives) = domains[j], state[domains[j]], negs[j]
        neg = negatives[np.searchsorted(anchors, s["rows"])] if len(s["rows"]) else np.zeros((0, num_negatives), np.int64)
        used = np.unique(np.r_[s["rows"].astype(np.int64), s["cols"].astype(np.int64), neg[neg >= 0]])
        take = pa.array(used, pa.int64())
        sub_ids = np.asarray(ids[j].take(take).to_pylist(), dtype=object)
        sub_texts = np.asarray(texts[j].take(take).to_pylist(), dtype=object)
        local = np.where(neg >= 0, np.searchsorted(used, neg), -1)
        tables.append(pairs_table(d, sub_ids, sub_texts, np.searchsorted(used, s["rows"]),
                                  np.searchsorted(used, s["cols"]), s["score"], s["text"], local))
        found = (neg >= 0).sum(axis=1)
        stats[d] = {"rows": len(s["rows"]), "found": int(found.sum()), "short": int((found < num_negatives).sum())}
        if planted[j] is not None:
            keys = sh.pair_keys(s["rows"], s["cols"], len(ids[j]))
            stats[d]["planted"] = planted_counts(keys, s["support_keys"], planted[j])
    table = validate_table(pa.concat_tables(tables) if tables else PAIRS.schema.empty_table(), PAIRS, "pairs")
    out.mkdir()
    pq.write_table(table, (out / f"part-{part:05d}.parquet").path, filesystem=out.fs, compression="zstd")
    return stats


def _planted_keys(di: DomainItems, truth: Location, domain: str) -> np.ndarray | None:
    """The domain's planted pair keys (None when the ground truth has no row of the domain)."""
    gt = read_table(truth)
    gt = gt.filter(pc.equal(gt.column("domain"), domain))
    return planted_keys(di.item_ids, gt) if gt.num_rows else None


# ---------------------------------------------------------------- the driver


def _merge_stats(parts: list[dict]) -> dict[str, int]:
    total = SequenceStats().as_dict()
    for p in parts:
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return total


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
    rows = sum(ray.get([task(_file_rows).remote(f) for f in files]))
    layout = Layout.of(rows, config)
    U, P = layout.user_shards, layout.pair_shards
    read = task(_read_file).options(num_returns=U + 1)
    cut = [read.remote(f, U, config.heldout_users, config.seed) for f in files]
    domain_rows: dict[str, int] = {}
    held = 0
    for counts, held_rows in ray.get([c[0] for c in cut]):
        held += held_rows
        for d, n in counts.items():
            domain_rows[d] = domain_rows.get(d, 0) + n
    ctx.stats["heldout_user_rows"] = held
    domains = choose_domains(sorted(domain_rows))
    known = ray.get(task(_item_domains).remote(items_loc))
    for d in domains:
        ctx.count(rows_in=domain_rows[d])
        if d not in known:
            ctx.warn(f"pairs: domain {d!r} has interactions but no items; all its interactions are unknown items")
    if not domains:
        return {}

    prep = [task(_domain_items).options(num_returns=6).remote(items_loc, emb_loc, d) for d in domains]
    vocab_refs, item_refs = [p[0] for p in prep], [p[1] for p in prep]
    vec_refs, has_refs, text_refs = [p[3] for p in prep], [p[4] for p in prep], [p[5] for p in prep]
    item_stats = dict(zip(domains, ray.get([p[2] for p in prep])))
    n_items = {d: s["items"] for d, s in item_stats.items()}

    D = len(domains)
    user = task(_user_shard).options(num_returns=P + 2 + D)
    counted = [user.remote(domains, config, P, *vocab_refs, *[c[1 + u] for c in cut]) for u in range(U)]
    del cut
    seq_stats = ray.get([c[0] for c in counted])
    merged = {d: _merge_stats([s[d] for s in seq_stats]) for d in domains}
    n_users = {d: merged[d]["users"] for d in domains}
    sums = task(_sum_arrays)  # one task per domain: no zero-CPU fan-out of U x D picks
    user_refs = [sums.remote(*[c[2 + P + j] for c in counted]) for j in range(D)]
    extras = [c[1] for c in counted]

    shard = task(_pair_shard).options(num_returns=P + 3)
    reduced = [shard.remote(domains, config, n_users, P, *vec_refs, *has_refs, *user_refs, *[c[2 + p] for c in counted])
               for p in range(P)]
    del counted
    states = [r[0] for r in reduced]
    # The holders load the co-occurring keys while top-k and the thresholds run.
    A = (config.key_holders or default_holders(P)) if config.num_negatives else 0
    holders = KeyHolders([r[1] for r in reduced], A) if A else None
    pair_stats = ray.get([r[2] for r in reduced])
    if config.top_k is not None:
        ranked = [task(_item_shard).remote(domains, n_items, config.top_k, P, *[r[3 + q] for r in reduced])
                  for q in range(P)]
        states = [task(_apply_top_k).remote(s, n_items, p, *ranked) for p, s in enumerate(states)]
        del ranked
    del reduced

    chosen = choose_thresholds(states, domains, config)
    thresholds = {d: c[0] for d, c in chosen.items()}
    kept_dist = kept_distributions(states, thresholds)
    kept = [task(_keep).remote(s, thresholds) for s in states]
    del states
    anchors = task(_anchors)
    held_bytes = holders.ready() if holders is not None else 0
    try:
        negs = [task(_negatives).remote(d, item_refs[j], config, holders, len(extras), *extras,
                                        *[anchors.remote(k, d) for k in kept]) for j, d in enumerate(domains)]
        ray.wait(negs, num_returns=len(negs), fetch_local=False)
    finally:
        if holders is not None:
            holders.stop()
    planted: list[Any] = [None] * len(domains)
    if ctx.has_input("ground_truth"):
        planted = [task(_planted_keys).remote(item_refs[j], ctx.input("ground_truth"), d) for j, d in enumerate(domains)]
    out = ctx.out("pairs")
    written = ray.get([task(_write).remote(k, out, p, domains, config.num_negatives, *vocab_refs, *text_refs, *negs,
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
