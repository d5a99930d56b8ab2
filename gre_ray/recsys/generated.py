"""Generated interaction logs at any catalogue size, with popularity skew and sequential signal.

For benchmarks at GRE-B's sizes (Table 1: up to 1.7 M items and 11 M interactions) where no
real data of that size is at hand. Items have Zipf popularity (``p(rank r) ~ r ** -zipf``,
exponent about 1 as in Amazon review catalogues) and belong to topics; each user has a home
topic. A user's next item is, with probability ``follow``, one of a few fixed successors of
the previous item (the sequential signal SASRec can learn), else with probability ``home`` a
popular item of the home topic, else a popular item of any topic. Everything is vectorised
over users, so 5 M interactions take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _draw(rng: np.random.Generator, cdf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Indices drawn from the cumulative weights ``cdf`` restricted to segments ``[lo, hi)``."""
    base = np.where(lo > 0, cdf[np.maximum(lo - 1, 0)], 0.0)
    u = base + rng.random(len(lo)) * (cdf[hi - 1] - base)
    return np.minimum(np.searchsorted(cdf, u, side="right"), hi - 1)


def generate_interactions(
    n_items: int,
    n_users: int,
    mean_length: float = 12.0,
    *,
    n_topics: int | None = None,
    zipf: float = 1.0,
    follow: float = 0.5,
    home: float = 0.35,
    successors: int = 4,
    seed: int = 0,
    domain: str = "generated",
) -> pd.DataFrame:
    """An implicit interactions table (``domain``, ``user_id``, ``item_id``, ``timestamp``).

    Args:
        n_items: catalogue size (items never drawn simply have no interaction).
        n_users: users; each has ``3 + Poisson(mean_length - 3)`` interactions.
        n_topics: topics (None: about one per 200 items).
        zipf: popularity exponent.
        follow, home: probabilities of the successor and home-topic moves.
        successors: fixed successors per item, drawn by popularity within its topic.
        seed: the generator's seed.
        domain: the ``domain`` column.
    """
    rng = np.random.default_rng(seed)
    n_topics = n_topics or max(2, n_items // 200)
    weight = np.arange(1, n_items + 1, dtype=np.float64) ** -zipf
    weight = weight[rng.permutation(n_items)]  # popularity rank independent of the id
    topic = np.sort(rng.integers(n_topics, size=n_items))  # items 0..N-1 grouped by topic
    bounds = np.searchsorted(topic, np.arange(n_topics + 1))  # (T + 1,)
    cdf = np.cumsum(weight)
    topic_mass = cdf[np.maximum(bounds[1:] - 1, 0)] - np.where(bounds[:-1] > 0, cdf[np.maximum(bounds[:-1] - 1, 0)], 0.0)
    topic_mass = np.where(bounds[1:] > bounds[:-1], topic_mass, 0.0)
    succ = _draw(rng, cdf, np.repeat(bounds[topic], successors), np.repeat(bounds[topic + 1], successors))
    succ = succ.reshape(n_items, successors)
    user_topic = rng.choice(n_topics, size=n_users, p=topic_mass / topic_mass.sum())
    lengths = 3 + rng.poisson(max(mean_length - 3.0, 0.0), size=n_users)
    items = np.empty((lengths.max(), n_users), dtype=np.int64)
    every = np.zeros(n_users, dtype=np.int64), np.full(n_users, n_items, dtype=np.int64)
    items[0] = _draw(rng, cdf, bounds[user_topic], bounds[user_topic + 1])
    for t in range(1, lengths.max()):
        move = rng.random(n_users)
        nxt = _draw(rng, cdf, *every)
        in_home = _draw(rng, cdf, bounds[user_topic], bounds[user_topic + 1])
        nxt = np.where(move < follow + home, in_home, nxt)
        nxt = np.where(move < follow, succ[items[t - 1], rng.integers(successors, size=n_users)], nxt)
        items[t] = nxt
    keep = np.arange(lengths.max())[:, None] < lengths[None, :]  # (T, U)
    step, user = np.nonzero(keep)
    order = np.lexsort((step, user))
    user, step = user[order], step[order]
    return pd.DataFrame({
        "domain": domain,
        "user_id": _ids("u", user, len(str(n_users))),
        "item_id": _ids("i", items[step, user], len(str(n_items))),
        "timestamp": 1_600_000_000 + step.astype(np.int64) * 3600 + user % 3600,
    })


def _ids(prefix: str, values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded string ids, so their sorted order is the numeric order."""
    return np.char.add(prefix, np.char.zfill(values.astype(str), width)).astype(object)
