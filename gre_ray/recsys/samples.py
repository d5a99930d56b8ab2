"""Seeded negative sampling that never returns an item the user has seen.

One sampler serves both uses: the fixed negatives of implicit-feedback ranking samples
(drawn once when the split is made) and the per-epoch negatives of the retrieval losses
(SASRec's BCE, sampled softmax, DSSM). Its random stream is a numpy ``Generator`` seeded
from the split and training seeds and the epoch, never from the model, so an ID-only run
and a text run see exactly the same negatives (the reference implementation trained them
with different negative counts, which biased the comparison).

Negatives are drawn uniformly from 1..N with replacement and rejected when the user has
seen them, as in SASRec's ``random_neq`` (Kang & McAuley, 2018), but vectorised: a seen
(user, item) pair is a key ``user * (N + 1) + item`` looked up in one sorted array.
"""

from __future__ import annotations

import numpy as np

from gre_ray.errors import DataError

MAX_ROUNDS = 1000


class SeenItems:
    """The set of (user, item) pairs a sampler must avoid, as one sorted key array.

    Args:
        users: (M,) dense user of each seen pair (repeats allowed).
        items: (M,) dense item of each seen pair, in 1..n_items.
        n_users: number of users U.
        n_items: number of items N.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
        self.n_items = n_items
        self.stride = n_items + 1
        self.keys = np.unique(users.astype(np.int64) * self.stride + items.astype(np.int64))
        self.counts = np.bincount(self.keys // self.stride, minlength=n_users)  # (U,) distinct seen

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean array, True where ``(users[k], items[k])`` is a seen pair."""
        keys = users.astype(np.int64) * self.stride + items
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.keys[pos] == keys if len(self.keys) else np.zeros(keys.shape, bool)


def sample_negatives(
    rng: np.random.Generator, seen: SeenItems, users: np.ndarray, n: int, *, dataset: str = ""
) -> np.ndarray:
    """Draw ``n`` negatives per row, uniformly among the items that row's user has not seen.

    Args:
        rng: the seeded generator (owned by the caller, so the stream is reproducible).
        seen: the pairs to avoid.
        users: (M,) dense user of each row.
        n: negatives per row.
        dataset: name used in error messages.

    Returns:
        (M, n) int64 items in 1..N.

    Raises:
        DataError: a user has seen every item, so no negative exists.
    """
    if n == 0 or len(users) == 0:
        return np.zeros((len(users), n), dtype=np.int64)
    full = seen.counts[users] >= seen.n_items
    if full.any():
        user = int(users[full.argmax()])
        raise DataError(
            f"dataset {dataset or '<split>'}: user #{user} interacted with all {seen.n_items} items, "
            "so no negative can be sampled"
        )
    rows = np.repeat(users.astype(np.int64), n)
    out = rng.integers(1, seen.n_items + 1, size=len(rows), dtype=np.int64)
    bad = np.flatnonzero(seen.contains(rows, out))
    for _ in range(MAX_ROUNDS):
        if len(bad) == 0:
            return out.reshape(len(users), n)
        out[bad] = rng.integers(1, seen.n_items + 1, size=len(bad), dtype=np.int64)
        bad = bad[seen.contains(rows[bad], out[bad])]
    raise DataError(
        f"dataset {dataset or '<split>'}: negative sampling did not converge in {MAX_ROUNDS} rounds "
        "(some users have seen almost every item)"
    )
