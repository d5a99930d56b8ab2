"""The quality-filter chain with per-domain accounting.

Rows pass the filters in a fixed order, each removing rows from the survivors of the one
before: ``missing_embedding``, ``invalid_embedding`` (non-finite or zero vector),
``token_length``, ``too_few_words``, ``mostly_symbols``, ``exact_duplicate``,
``near_duplicate``. Embedding checks come first so that de-duplication keeps a copy that
can be selected. :class:`FilterLog` records, for every filter, the per-domain counts before
and after it and what it removed, for the stage manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gre_ray.coreset.config import QualityConfig


@dataclass
class FilterStep:
    """Counts of one filter, by domain."""

    name: str
    before: dict[str, int]
    removed: dict[str, int]
    after: dict[str, int]

    def as_dict(self) -> dict:
        return {
            "filter": self.name,
            "before": self.before,
            "removed": self.removed,
            "after": self.after,
            "removed_total": sum(self.removed.values()),
        }


class FilterLog:
    """Applies keep masks to a shrinking set of rows and counts by domain.

    Args:
        domains: (n,) domain of every row of the candidate table.
        names: every domain to report (including ones that end up empty).
    """

    def __init__(self, domains: np.ndarray, names: list[str]) -> None:
        self.domains = np.asarray(domains)
        self.names = sorted(names)
        self.alive = np.ones(len(self.domains), dtype=bool)  # (n,) survivors so far
        self.steps: list[FilterStep] = []

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Rows per domain among ``mask`` (default: the survivors)."""
        mask = self.alive if mask is None else mask
        found = pd.Series(self.domains[mask]).value_counts()
        return {d: int(found.get(d, 0)) for d in self.names}

    @property
    def rows(self) -> np.ndarray:
        """(m,) indices of the surviving rows."""
        return np.flatnonzero(self.alive)

    def apply(self, name: str, keep: np.ndarray) -> int:
        """Drop the survivors where ``keep`` (m,) over :attr:`rows` is False; returns how many."""
        rows = self.rows
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != rows.shape:
            raise ValueError(f"filter {name}: mask of {keep.shape} for {rows.shape} surviving rows")
        before = self.counts()
        dropped = np.zeros_like(self.alive)
        dropped[rows[~keep]] = True
        self.alive[dropped] = False
        removed = self.counts(dropped)
        self.steps.append(FilterStep(name, before, removed, self.counts()))
        return int(dropped.sum())

    def as_dict(self) -> list[dict]:
        return [s.as_dict() for s in self.steps]


def valid_vectors(vectors: np.ndarray) -> np.ndarray:
    """Keep mask (n,) of rows of ``vectors`` (n, d) that are finite and not all zero."""
    finite = np.isfinite(vectors).all(axis=1)
    nonzero = np.abs(np.where(np.isfinite(vectors), vectors, 0.0)).sum(axis=1) > 0
    return finite & nonzero


def length_keep(token_count: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Keep mask of texts with ``min_tokens <= tokens <= max_tokens``."""
    keep = token_count >= cfg.min_tokens
    if cfg.max_tokens is not None:
        keep &= token_count <= cfg.max_tokens
    return keep


def words_keep(distinct_words: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Keep mask of texts with at least ``min_distinct_words`` distinct words."""
    return distinct_words >= cfg.min_distinct_words


def symbols_keep(alpha_fraction: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Keep mask of texts whose letter share is at least ``min_alpha_fraction``."""
    return alpha_fraction >= np.float32(cfg.min_alpha_fraction)
