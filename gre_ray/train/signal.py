"""The held-out signal of a GRE recipe: next-item retrieval and pair AUC on held-out users of the training domains.

Held-out pairs (:mod:`gre_ray.train.heldout`) come from the same users and co-occurrence
counts as the training pairs, so a model that memorises the mined relation scores well on
them however it bends the rest of the space. The benchmark instead fuses an item's vector
into a recommender that must rank a whole catalogue. The signal here measures that without
training anything, on users whose interactions never reach the pairs stage (a hash of the
domain, the user and the seed picks them, as :func:`heldout_users` does for both stages):

* **next-item retrieval** (the zero-training tier of :mod:`gre_ray.bench.zero_shot`, on
  training domains): each held-out user's second-to-last item scores every item of the
  domain by cosine, the user's earlier items masked; NDCG@10 of the last item (full ranking);
* **pair AUC**: how well cosine tells a user's consecutive items from the query and a random
  item of the domain (0.5 = not at all);
* **unrelated cosine**: the mean cosine of random item pairs, the anisotropy that makes a
  fine-tuned space worse for fusion (Ethayarajh 2019; Wang & Isola 2020 call its
  opposite uniformity).

Only items and interactions of the domains it is given are read; the stages give it the
training-role domains only, never benchmark-role ones. Pure numpy/pyarrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa

from gre_ray.data.heldout_users import drop_heldout_users, heldout_rows, heldout_users  # noqa: F401 (re-exported)

SIGNAL_METRIC = "next_item_ndcg"


@dataclass
class DomainSignal:
    """One domain's held-out users as a retrieval task.

    Attributes:
        domain: the domain.
        item_ids: the domain's items, sorted.
        texts: their texts.
        queries: (U,) index of each held-out user's second-to-last item.
        targets: (U,) index of their last item.
        history: per user, indices of the items before the target (masked in the ranking).
        randoms: (U,) a random item per user, neither its query nor its target (pair AUC).
        unrelated: (P, 2) random item index pairs (mean cosine).
    """

    domain: str
    item_ids: list[str]
    texts: list[str]
    queries: np.ndarray
    targets: np.ndarray
    history: list[np.ndarray]
    randoms: np.ndarray
    unrelated: np.ndarray


def signal_tasks(
    items: pa.Table, interactions: pa.Table, domains: Sequence[str], fraction: float, seed: int, max_users: int = 2000
) -> list[DomainSignal]:
    """The retrieval task of each domain's held-out users (at most ``max_users`` per domain).

    Args:
        items: ``domain``, ``item_id``, ``text`` rows (other domains are ignored).
        interactions: ``domain``, ``user_id``, ``item_id``, ``timestamp`` rows.
        domains: the domains to read (the training-role ones).
        fraction: share of users held out (the same as the pairs stage's).
        seed: the seed of the user hash and of the random items.
        max_users: cap per domain (the first in hash order).
    """
    out = []
    inter_all = interactions.select(["domain", "user_id", "item_id", "timestamp"]).to_pandas()
    items_all = items.select(["domain", "item_id", "text"]).to_pandas()
    for k, domain in enumerate(sorted(domains)):
        its = items_all[items_all["domain"] == domain].sort_values("item_id")
        if its.empty:
            continue
        ids = its["item_id"].tolist()
        where = {item: i for i, item in enumerate(ids)}
        inter = inter_all[inter_all["domain"] == domain]
        held = heldout_users([domain] * len(inter), inter["user_id"].tolist(), fraction, seed)
        inter = inter[held & inter["item_id"].isin(where).to_numpy()]
        inter = inter.sort_values(["user_id", "timestamp"], kind="stable")
        queries, targets, history = [], [], []
        for _, seq in inter.groupby("user_id", sort=True)["item_id"]:
            idx = [where[i] for i in seq]
            if len(idx) < 2 or idx[-1] == idx[-2]:
                continue
            queries.append(idx[-2])
            targets.append(idx[-1])
            history.append(np.asarray(sorted(set(idx[:-1]) - {idx[-1]}), dtype=np.int64))
            if len(queries) >= max_users:
                break
        rng = np.random.default_rng([seed, k])
        n = len(ids)
        randoms = rng.integers(n, size=len(queries))
        clash = (randoms == np.asarray(queries, dtype=np.int64)) | (randoms == np.asarray(targets, dtype=np.int64))
        randoms[clash] = (randoms[clash] + 1 + rng.integers(n - 1, size=int(clash.sum()))) % n
        pairs = rng.integers(n, size=(min(5000, n * (n - 1) // 2), 2))
        out.append(DomainSignal(domain, ids, its["text"].tolist(), np.asarray(queries, dtype=np.int64),
                                np.asarray(targets, dtype=np.int64), history, randoms, pairs[pairs[:, 0] != pairs[:, 1]]))
    return out


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + P(tie) / 2 over all pos/neg pairs."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + ties / 2).sum() / (len(pos) * len(neg)))


def score_signal(tasks: Sequence[DomainSignal], vectors: Sequence[np.ndarray], k: int = 10) -> dict[str, float]:
    """The held-out signal of one model: mean over users (NDCG, AUC) and over pairs (cosine).

    Args:
        tasks: from :func:`signal_tasks`.
        vectors: per task, (n_items, D) item vectors in ``item_ids`` order (normalised here).
        k: the NDCG cut-off.

    Returns:
        ``next_item_ndcg``, ``next_item_recall``, ``pair_auc``, ``unrelated_cosine`` and
        ``heldout_users``.
    """
    ndcg, recall, pos, neg, unrelated = [], [], [], [], []
    for task, vecs in zip(tasks, vectors):
        unit = np.asarray(vecs, dtype=np.float32)
        unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
        if len(task.queries):
            scores = unit[task.queries] @ unit.T  # (U, n)
            for u, hist in enumerate(task.history):
                scores[u, hist] = -np.inf
            target = scores[np.arange(len(task.targets)), task.targets]
            rank = (scores > target[:, None]).sum(1)  # 0-based, pessimistic ties excluded
            hit = rank < k
            ndcg.append(np.where(hit, 1 / np.log2(rank + 2.0), 0.0))
            recall.append(hit.astype(np.float64))
            pos.append(target)
            neg.append(np.einsum("ud,ud->u", unit[task.queries], unit[task.randoms]))
        unrelated.append(np.einsum("pd,pd->p", unit[task.unrelated[:, 0]], unit[task.unrelated[:, 1]]))
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
