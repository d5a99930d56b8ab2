"""The held-out signal of a GRE recipe: next-item retrieval and pair AUC on held-out users of the training domains.

Held-out pairs (:mod:`gre_ray.train.heldout`) come from the same users and co-occurrence
counts as the training pairs, so a model that memorises the mined relation scores well on
them however it bends the rest of the space. The benchmark instead fuses an item's vector
into a recommender that must rank a whole catalogue. The signal here measures that without
training anything, on users whose interactions never reach the pairs stage (a hash of the
domain, the user and the seed picks them, as :func:`heldout_users` does for both stages):

* **next-item retrieval** (the zero-training tier of :mod:`gre_ray.bench.zero_shot`, on
  training domains): each held-out user's second-to-last item scores the domain's
  candidate pool by cosine, the user's earlier items masked; NDCG@10 of the last item. The
  pool is the whole catalogue when the domain has at most ``signal_pool`` items (a full
  ranking), else the users' queries and targets plus a seeded uniform sample of
  ``signal_pool`` items (:mod:`gre_ray.train.signal_pool`): a sampled ranking, whose NDCG
  is higher than the full ranking's and comparable between models and epochs only;
* **pair AUC**: how well cosine tells a user's consecutive items from the query and a random
  item of the domain (0.5 = not at all);
* **unrelated cosine**: the mean cosine of random item pairs, the anisotropy that makes a
  fine-tuned space worse for fusion (Ethayarajh 2019; Wang & Isola 2020 call its
  opposite uniformity).

Only items and interactions of the domains it is given are read; the stages give it the
training-role domains only, never benchmark-role ones. Pure numpy/pyarrow; scoring takes
torch tensors too and then runs on their device, a chunk of users at a time.

A :class:`DomainSignal` holds its whole pool's texts, so on Ray it lives in files, never in
the driver: each domain's is built and written by a task of its own, the driver keeps a
:class:`gre_ray.train.signal_store.SignalRef`, and the training workers and the WiSE-FT
task read it back (:mod:`gre_ray.train.signal_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.train import config, signal_pool

from gre_ray.data.heldout_users import drop_heldout_users, heldout_rows, heldout_users  # noqa: F401 (re-exported)

SIGNAL_METRIC = "next_item_ndcg"
SIGNAL_K = config.SIGNAL_K  # the NDCG / recall cut-off; a domain's pool must hold at least this many items
SIGNAL_POOL = 100_000  # default candidate pool per domain (contrastive.signal_pool)
CHUNK_SCORES = 1 << 26  # user x pool scores held at once (256 MB of float32)


@dataclass
class DomainSignal:
    """One domain's held-out users as a retrieval task over a candidate pool.

    Attributes:
        domain: the domain.
        item_ids: the candidate pool, sorted: every item of the domain when it has no more
            than the pool setting, else the users' queries and targets plus a seeded
            uniform sample (:mod:`gre_ray.train.signal_pool`).
        texts: their texts.
        queries: (U,) pool index of each held-out user's second-to-last item.
        targets: (U,) pool index of their last item.
        history: per user, pool indices of the items before the target (masked in the ranking).
        randoms: (U,) a random pool item per user, neither its query nor its target (pair AUC).
        unrelated: (P, 2) random pool index pairs (mean cosine).
        catalogue: items of the domain (``len(item_ids)`` when the pool is the catalogue).
    """

    domain: str
    item_ids: list[str]
    texts: list[str]
    queries: np.ndarray
    targets: np.ndarray
    history: list[np.ndarray]
    randoms: np.ndarray
    unrelated: np.ndarray
    catalogue: int = 0

    @property
    def whole_catalogue(self) -> bool:
        return self.catalogue <= len(self.item_ids)


def build_task(domain: str, k: int, rows: pa.Table, found: pa.Array, sample: pa.Table, extra: pa.Table,
               catalogue: int, seed: int, max_users: int) -> DomainSignal:
    """One domain's task from its candidate users' rows and its items.

    Args:
        domain: the domain.
        k: its position among the sorted training domains (seeds its random items).
        rows: the candidate users' interactions (``user_id``, ``item_id``, ``timestamp``), file order.
        found: the ids among ``rows``' items that exist in the domain.
        sample: ``item_id``, ``text`` of the sampled items (all of them when the pool is the catalogue).
        extra: ``item_id``, ``text`` of queries and targets outside the sample (may repeat sampled ones).
        catalogue: items of the domain.
        seed: the pairs stage's seed.
        max_users: users kept.
    """
    rows = rows.filter(pc.is_in(rows.column("item_id"), found))
    seq = signal_pool.sequences(rows, max_users)
    texts = pa.concat_tables([sample.select(["item_id", "text"]), extra.select(["item_id", "text"])], promote_options="permissive")
    ids = texts.column("item_id").combine_chunks()
    first = pc.index_in(pc.unique(ids), value_set=ids)  # one row per id
    texts = texts.take(first)
    texts = texts.take(pc.sort_indices(texts, [("item_id", "ascending")]))
    pool_ids = texts.column("item_id").combine_chunks()
    queries = signal_pool.pool_index(pool_ids, seq["query"])
    targets = signal_pool.pool_index(pool_ids, seq["target"])
    n = len(pool_ids)
    history = (signal_pool.histories(seq["history_user"], signal_pool.pool_index(pool_ids, seq["history_item"]),
                                     targets, len(queries), n) if len(queries) else [])
    rng = np.random.default_rng([seed, k])
    randoms = rng.integers(n, size=len(queries))
    clash = (randoms == queries) | (randoms == targets)
    randoms[clash] = (randoms[clash] + 1 + rng.integers(n - 1, size=int(clash.sum()))) % n
    pairs = rng.integers(n, size=(min(5000, n * (n - 1) // 2), 2))
    return DomainSignal(domain, pool_ids.to_pylist(), texts.column("text").to_pylist(), queries, targets, history,
                        randoms, pairs[pairs[:, 0] != pairs[:, 1]], catalogue)


def wanted_extra(rows: pa.Table, found: pa.Array, sampled: pa.Array | pa.ChunkedArray, max_users: int) -> pa.Array:
    """The queries' and targets' ids of a domain that the sample lacks (their texts are read next).

    ``sampled`` is the sample's ids, or only those that ``rows`` name (the same answer: the
    queries and targets are among them).
    """
    seq = signal_pool.sequences(rows.filter(pc.is_in(rows.column("item_id"), found)), max_users)
    ends = pa.array(np.concatenate([seq["query"], seq["target"]]).tolist(), pa.string())
    return pc.unique(ends.filter(pc.invert(pc.is_in(ends, sampled))))


def signal_tasks(
    items: pa.Table, interactions: pa.Table, domains: Sequence[str], fraction: float, seed: int,
    max_users: int = 2000, pool: int = SIGNAL_POOL,
) -> list[DomainSignal]:
    """The retrieval task of each domain's held-out users, in one process (the Ray wiring,
    :mod:`gre_ray.wiring.train_signal`, runs the same rounds file by file, builds each
    domain's task in a task of its own and writes it to storage, :mod:`gre_ray.train.signal_store`).

    Args:
        items: ``domain``, ``item_id``, ``text`` rows (other domains are ignored).
        interactions: ``domain``, ``user_id``, ``item_id``, ``timestamp`` rows.
        domains: the domains to read (the training-role ones).
        fraction: share of users held out (the same as the pairs stage's).
        seed: the seed of the user hash, the pool sample and the random items.
        max_users: cap per domain (the first by user id with a usable last transition).
        pool: candidate pool per domain (the whole catalogue when it has no more items).
    """
    domains = sorted(domains)
    cap = max_users * signal_pool.CANDIDATES_PER_USER
    inter = signal_pool.of_domains(interactions.select(signal_pool.INTERACTION_COLUMNS), domains)
    items = signal_pool.of_domains(items.select(signal_pool.ITEM_COLUMNS), domains)
    users = signal_pool.merge_candidates([signal_pool.user_candidates(inter, fraction, seed, cap)], cap)
    rows = signal_pool.candidate_rows(inter, {d: c["users"] for d, c in users.items()})
    summary = signal_pool.merge_summaries([signal_pool.item_summary(items, seed, pool)], pool)
    per_domain = dict(signal_pool.by_domain(rows))
    named = {d: pc.unique(part.column("item_id")) for d, part in per_domain.items()}
    looked = signal_pool.merge_lookups([signal_pool.item_lookup(items, named, signal_pool.thresholds(summary, pool), seed)])
    empty_rows = rows.slice(0, 0)
    extra_ids = {d: wanted_extra(per_domain.get(d, empty_rows), looked[d]["found"], looked[d]["sample"].column("item_id"),
                                 max_users) for d in looked}
    extra = signal_pool.item_texts(items, extra_ids)
    out = []
    for k, domain in enumerate(domains):
        if domain not in looked:
            continue
        out.append(build_task(domain, k, per_domain.get(domain, empty_rows), looked[domain]["found"],
                              looked[domain]["sample"], extra.filter(pc.equal(extra.column("domain"), domain)),
                              summary[domain]["items"], seed, max_users))
    return out


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + P(tie) / 2 over all pos/neg pairs."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + ties / 2).sum() / (len(pos) * len(neg)))


def _ranks(unit, task: DomainSignal, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(U,) 0-based rank of each target among the pool (history masked), and its cosine.

    ``unit`` is (n, D) unit vectors: numpy, or a torch tensor scored where it lives (a
    training worker's GPU). Users go in chunks, so no more than ``CHUNK_SCORES`` scores
    exist at once; ties are not counted against the target.
    """
    n = len(task.item_ids)
    step = max(1, CHUNK_SCORES // max(n, 1))
    ranks, targets = [], []
    for lo in range(0, len(task.queries), step):
        hi = min(lo + step, len(task.queries))
        q, t = task.queries[lo:hi], task.targets[lo:hi]
        if isinstance(unit, np.ndarray):
            scores = unit[q] @ unit.T  # (chunk, n)
            for u, hist in enumerate(task.history[lo:hi]):
                scores[u, hist] = -np.inf
            target = scores[np.arange(hi - lo), t]
            ranks.append((scores > target[:, None]).sum(1))
            targets.append(target)
        else:
            import torch

            qi = torch.as_tensor(q, device=unit.device)
            scores = unit[qi] @ unit.T
            for u, hist in enumerate(task.history[lo:hi]):
                if len(hist):
                    scores[u, torch.as_tensor(hist, device=unit.device)] = float("-inf")
            target = scores[torch.arange(hi - lo, device=unit.device), torch.as_tensor(t, device=unit.device)]
            ranks.append((scores > target[:, None]).sum(1).cpu().numpy())
            targets.append(target.cpu().numpy())
    cat = lambda xs, dtype: np.concatenate(xs) if xs else np.zeros(0, dtype)  # noqa: E731
    return cat(ranks, np.int64), cat(targets, np.float32)


def _pairs_cosine(unit, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if isinstance(unit, np.ndarray):
        return np.einsum("ud,ud->u", unit[a], unit[b])
    import torch

    ia, ib = (torch.as_tensor(x, device=unit.device) for x in (a, b))
    return (unit[ia] * unit[ib]).sum(1).cpu().numpy()


def _unit(vecs):
    if isinstance(vecs, np.ndarray) or not hasattr(vecs, "device") or vecs.device.type == "cpu":
        unit = np.asarray(vecs.numpy() if hasattr(vecs, "numpy") else vecs, dtype=np.float32)
        return unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    unit = vecs.float()
    return unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)


def score_signal(tasks: Sequence[DomainSignal], vectors: Sequence, k: int = SIGNAL_K) -> dict[str, float]:
    """The held-out signal of one model: mean over users (NDCG, AUC) and over pairs (cosine).

    Args:
        tasks: from :func:`signal_tasks`.
        vectors: per task, (n_pool, D) item vectors in ``item_ids`` order (normalised here):
            numpy, or torch tensors scored on their device.
        k: the NDCG cut-off.

    Returns:
        ``next_item_ndcg``, ``next_item_recall``, ``pair_auc``, ``unrelated_cosine`` and
        ``heldout_users``.
    """
    ndcg, recall, pos, neg, unrelated = [], [], [], [], []
    for task, vecs in zip(tasks, vectors):
        unit = _unit(vecs)
        if len(task.queries):
            rank, target = _ranks(unit, task, k)
            hit = rank < k
            ndcg.append(np.where(hit, 1 / np.log2(rank + 2.0), 0.0))
            recall.append(hit.astype(np.float64))
            pos.append(target)
            neg.append(_pairs_cosine(unit, task.queries, task.randoms))
        unrelated.append(_pairs_cosine(unit, task.unrelated[:, 0], task.unrelated[:, 1]))
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
    return {
        SIGNAL_METRIC: float(cat(ndcg).mean()) if ndcg else float("nan"),
        "next_item_recall": float(cat(recall).mean()) if recall else float("nan"),
        "pair_auc": _auc(cat(pos), cat(neg)),
        "unrelated_cosine": float(cat(unrelated).mean()) if unrelated else float("nan"),
        "heldout_users": int(sum(len(t.queries) for t in tasks)),
    }


def measure(tasks: Sequence[DomainSignal], embed: Callable[[list[str]], np.ndarray]) -> dict[str, float]:
    """:func:`score_signal` of the vectors ``embed`` gives each task's item texts."""
    return score_signal(tasks, [embed(t.texts) for t in tasks])
