"""The bodies of the sharded pair-mining rounds as plain functions (no Ray here).

:mod:`gre_ray.wiring.pairs_sharded` runs them as Ray tasks over object refs, in the order
of the ``pairs`` stage (the driver holds counts and refs only):

1. :func:`file_rows`, :func:`read_file`: count an interactions file, validate it and cut
   its rows by a hash of the user id into user shards (held-out users counted, never mined);
2. :func:`item_domains`, :func:`domain_prep`: the domains that have items; one domain's
   vocabulary, unit guide vectors and texts (a filtered read of ``embeddings``);
3. :func:`user_shard`: sequences, caps and co-occurrence counts of one user shard, sent
   to pair shards by a hash of the pair; :func:`sum_arrays` sums item-user counts;
4. :func:`pair_shard`, :func:`item_shard`, :func:`apply_top_k`: sum, filter and score a
   pair shard; the global per-item top-k (:mod:`gre_ray.pairs.shards`);
5. :func:`kept_pairs`, :func:`anchors_of`, :func:`domain_negatives`: the pairs past both
   thresholds and their hard negatives (:class:`ShardedCooccurring` asks the key holders);
6. :func:`write_shard`, :func:`domain_planted_keys`, :func:`merge_stats`: one Parquet part
   per pair shard, the planted-pair figures and the merged sequence statistics.

The layout (:class:`Layout`) bounds the shards by the cluster's CPUs. The result equals
:func:`gre_ray.pairs.mine.mine_domain` run per domain in one process (tests/pairs/test_sharded.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

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
from gre_ray.pairs.evaluate import planted_counts, planted_keys
from gre_ray.pairs.mine import pair_similarity, pairs_table
from gre_ray.pairs.negatives import Cooccurring, SearchSettings, hard_negatives, normalized_text_keys
from gre_ray.pairs.scores import score_pairs
from gre_ray.pairs.sequences import SequenceStats, build_sequences, cap_sequences, item_index
from gre_ray.pairs.thresholds import ChosenThresholds

MAX_PAIR_SHARDS = 64
ROWS_PER_PAIR_SHARD = 1_000_000  # interactions per automatic pair shard
SHARDS_PER_CPU = 4  # user shards per cluster CPU, at most
_COLUMNS = ["domain", "user_id", "item_id", "timestamp"]


@dataclass(frozen=True)
class Layout:
    """How many user shards (counting) and pair shards (summing, scoring, writing).

    The user shards follow ``rows_per_shard``, bounded by the cluster's CPUs (at most
    :data:`SHARDS_PER_CPU` per CPU), so a small ``rows_per_shard`` cannot fan out thousands
    of counting tasks: a shard then holds more rows than ``rows_per_shard`` asks for.

    The pair shards depend on the data and the config alone: one per
    :data:`ROWS_PER_PAIR_SHARD` interactions, 2 to :data:`MAX_PAIR_SHARDS` (or
    ``pair_shards``). They fix the written folder's row order (by shard, then domain and
    item pair), and the contrastive stage feeds Ray Train's workers in that order, so a run
    on a laptop, on a cluster of any size or on an autoscaling one whose CPU count changes
    while it runs writes the same folder and trains the same weights from it. Their number
    is not tied to ``rows_per_shard`` because every pair shard sends a part to every other
    (P² objects a round, each owned by the driver): it grows with the data only. Every task
    takes one CPU, so no more of them run at once than the cluster has CPUs.
    """

    user_shards: int
    pair_shards: int

    @staticmethod
    def of(rows: int, config: PairsConfig, cpus: int) -> "Layout":
        """The layout of ``rows`` interactions on a cluster of ``cpus`` CPUs."""
        users = min(max(1, SHARDS_PER_CPU * max(1, cpus)), max(1, math.ceil(rows / config.rows_per_shard)))
        pairs = config.pair_shards or min(MAX_PAIR_SHARDS, max(2, math.ceil(rows / ROWS_PER_PAIR_SHARD)))
        return Layout(users, pairs)


# ---------------------------------------------------------------- 1. read, cut by user


def file_rows(file: Location) -> int:
    return pq.ParquetFile(file.path, filesystem=file.fs).metadata.num_rows


def read_file(file: Location, user_shards: int, heldout_users: float = 0.0, seed: int = 0) -> list[Any]:
    """[(rows per domain, held-out rows), then the file's rows of each user shard]; held-out
    users' rows are counted, never mined (``heldout_users``: :mod:`gre_ray.train.signal` scores them)."""
    table = validate_table(pq.read_table(file.path, filesystem=file.fs), INTERACTIONS, file.uri).select(_COLUMNS)
    counts = pc.value_counts(table.column("domain")).to_pylist()
    table, held = drop_heldout_users(table, heldout_users, seed)
    shard = sh.shard_of(sh.string_hash(table.column("user_id")), user_shards)
    parts = [table.take(pa.array(rows)) for rows in sh.split_by_shard(shard, user_shards)]
    return [({c["values"]: int(c["counts"]) for c in counts}, held), *parts]


# ---------------------------------------------------------------- 2. items per domain


def item_domains(items: Location) -> set[str]:
    return set(pc.unique(read_table(items, columns=["domain"]).column("domain")).to_pylist())


def domain_prep(items: Location, embeddings: Location, domain: str) -> list[Any]:
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


def user_shard(domains: list[str], config: PairsConfig, pair_shards: int, *args: Any) -> list[Any]:
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
        keys, counts = counted_keys(cooccurrence_counts(capped, config.window))
        together = counted_keys(cooccurrence_counts(capped))[0] if config.window is not None else None
        t_at = sh.split_by_shard(sh.pair_shard(together, pair_shards), pair_shards) if together is not None else None
        for p, at in enumerate(sh.split_by_shard(sh.pair_shard(keys, pair_shards), pair_shards)):
            payloads[p][d] = (keys[at], counts[at], together[t_at[p]] if together is not None else None)
    return [stats, extra, *payloads, *(item_users[d] for d in domains)]


def counted_keys(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(counts.shape[0], dtype=np.int64), np.diff(counts.indptr))
    return sh.pair_keys(rows, counts.indices, counts.shape[0]), counts.data


def sum_arrays(*arrays: np.ndarray) -> np.ndarray:
    return np.sum(arrays, axis=0)


# ---------------------------------------------------------------- 4. pair shards and top-k


def pair_shard(domains: list[str], config: PairsConfig, n_users: dict[str, int], pair_shards: int,
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


def item_shard(domains: list[str], n_items: dict[str, int], k: int, pair_shards: int, *entries: dict) -> dict:
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


def apply_top_k(state: dict, n_items: dict[str, int], part: int, *selected: dict) -> dict:
    """The shard's candidates: its pairs that some item ranked in its top k (``selected``: every item shard's result)."""
    out = {}
    for d, s in state.items():
        mine = [keys[offsets[part] : offsets[part + 1]] for keys, offsets in (x[d] for x in selected if d in x)]
        chosen = np.concatenate(mine or [np.zeros(0, np.int64)])
        keep = np.isin(sh.pair_keys(s["rows"], s["cols"], n_items[d]), chosen)
        out[d] = {**{c: v[keep] for c, v in s.items() if c != "support_keys"}, "support_keys": s["support_keys"]}
    return out


# ---------------------------------------------------------------- 6. negatives


def kept_pairs(state: dict, chosen: dict[str, ChosenThresholds]) -> dict:
    """The shard's kept pairs (both thresholds passed); support keys kept for the planted figures."""
    out = {}
    for d, s in state.items():
        t = chosen[d]
        keep = (s["score"] >= t.cooc_min) & (s["text"] >= t.text_min)
        out[d] = {**{c: v[keep] for c, v in s.items() if c != "support_keys"}, "support_keys": s["support_keys"]}
    return out


def anchors_of(state: dict, domain: str) -> np.ndarray:
    return np.unique(state[domain]["rows"]) if domain in state else np.zeros(0, np.int32)


class KeyLookup(Protocol):
    """Where the co-occurring pair keys live (:class:`gre_ray.wiring.pair_key_holders.KeyHolders`)."""

    def contains(self, domain: str, keys: np.ndarray) -> np.ndarray: ...


class ShardedCooccurring(Cooccurring):
    """:class:`gre_ray.pairs.negatives.Cooccurring` whose pair set lives in the key holders.

    Each test sends the (anchor, candidate) keys in one batched call per holder
    (:class:`gre_ray.wiring.pair_key_holders.KeyHolders`); the capped users' whole
    histories are tested here as in the one-process path.
    """

    def __init__(self, holders: KeyLookup | None, domain: str, n_items: int, extra: sp.csr_matrix | None) -> None:
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


def domain_negatives(domain: str, di: DomainItems, config: PairsConfig, holders: KeyLookup | None, n_extras: int,
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


def write_shard(state: dict, out: Location, part: int, domains: list[str], num_negatives: int, *args: Any) -> dict[str, dict]:
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


def domain_planted_keys(di: DomainItems, truth: Location, domain: str) -> np.ndarray | None:
    """The domain's planted pair keys (None when the ground truth has no row of the domain)."""
    gt = read_table(truth)
    gt = gt.filter(pc.equal(gt.column("domain"), domain))
    return planted_keys(di.item_ids, gt) if gt.num_rows else None



def merge_stats(parts: list[dict]) -> dict[str, int]:
    total = SequenceStats().as_dict()
    for p in parts:
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return total
