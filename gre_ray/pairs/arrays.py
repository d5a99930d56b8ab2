"""Sort-based unique helpers for large integer arrays.

numpy 2.4's ``np.unique`` on int64 takes a hash-based path that measured 50 s for 6.7M
values on this machine, against 0.5 s for a sort; these helpers do the same with one sort.
"""

from __future__ import annotations

import numpy as np


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of ``values``, ascending."""
    s = np.sort(values)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def first_occurrences(values: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct value, in ascending position order."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    s = values[order]
    return np.sort(order[np.r_[True, s[1:] != s[:-1]]])


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, index of each value in them): ``uniq[inverse] == values``."""
    if len(values) == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    s = values[order]
    new = np.r_[True, s[1:] != s[:-1]]
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return s[new], inverse
