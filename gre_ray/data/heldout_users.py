"""Which users are held out of pair mining, by a hash of (domain, user, seed): pure numpy/pyarrow.

The pairs stage drops these users' interactions before counting; stage ``contrastive``
scores next-item retrieval on them (:mod:`gre_ray.train.signal`). Both call
:func:`heldout_users` with the pairs stage's ``heldout_users`` and ``seed``, so they agree
user by user whatever the row order or the sharding.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def heldout_users(domains: Sequence[str], users: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """(n,) bool: True for the interactions of held-out users (fixed by domain, user and seed)."""
    if fraction <= 0:
        return np.zeros(len(users), dtype=bool)
    out = np.empty(len(users), dtype=np.float64)
    for i, (d, u) in enumerate(zip(domains, users)):
        digest = hashlib.blake2b(f"{seed}\0user\0{d}\0{u}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") / 2**64
    return out < fraction


def heldout_rows(interactions: pa.Table, fraction: float, seed: int) -> np.ndarray:
    """(n,) bool over interaction rows: True where the user is held out (each user hashed once)."""
    if fraction <= 0 or interactions.num_rows == 0:
        return np.zeros(interactions.num_rows, dtype=bool)
    import pandas as pd

    keys = pc.binary_join_element_wise(interactions.column("domain"), interactions.column("user_id"), "\0")
    codes, uniques = pd.factorize(keys.to_numpy(zero_copy_only=False))
    pairs = [u.split("\0", 1) for u in uniques]
    return heldout_users([p[0] for p in pairs], [p[1] for p in pairs], fraction, seed)[codes]


def drop_heldout_users(interactions: pa.Table, fraction: float, seed: int) -> tuple[pa.Table, int]:
    """The interactions of the other users, and how many interactions were held out."""
    mask = heldout_rows(interactions, fraction, seed)
    return interactions.filter(pa.array(~mask)), int(mask.sum())
