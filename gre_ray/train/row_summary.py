"""What a training stage's driver keeps of its input rows: counts, the held-out rows (bounded), a text sample.

A training stage needs, before any worker starts, the training rows per domain (they fix the
sampler's shares and the steps per epoch), the reasons rows are dropped, the first
``heldout_max`` held-out rows (every worker evaluates them) and, for centering without a
held-out signal, a sample of the item texts. :func:`summarize` computes them from one table
(a file of the input, or all of it) and :func:`merge` folds the summaries of consecutive
files in order, so the driver never holds the input: the contrastive stage's pairs grow
with the corpus (:mod:`gre_ray.wiring.train_rows` runs one task per file). The split is the
row-local one of :mod:`gre_ray.train.rows`, so the merged summary equals the summary of the
files joined (tests/train/test_row_summary.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.train.rows import check_pair_texts, domain_counts, split_corpus, split_pairs


@dataclass
class RowSummary:
    """A training input's rows as the driver needs them.

    Attributes:
        rows: input rows.
        train_counts: training rows per domain.
        dropped: reason → rows neither trained nor evaluated on.
        heldout: the first held-out rows in input order, at most the limit it was built with.
        domains: every domain of the input, sorted.
        texts: (pairs, with a text limit) up to that many distinct item texts, those with the
            smallest hashes: a uniform sample that does not depend on how the rows are split
            into files.
    """

    rows: int = 0
    train_counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    heldout: pa.Table | None = None
    domains: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return int(sum(self.train_counts.values()))


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def smallest_texts(texts: Iterable[str], limit: int) -> list[str]:
    """The ``limit`` distinct ``texts`` with the smallest hashes, sorted (ties by text)."""
    if limit <= 0:
        return []
    return sorted(sorted(set(texts), key=lambda t: (_text_hash(t), t))[:limit])


def summarize(table: pa.Table, kind: str, fraction: float, seed: int, *, hard_negatives: int = 0,
              limit: int, text_limit: int = 0, source: str = "") -> RowSummary:
    """The summary of ``table`` (``pairs`` or ``corpus`` rows).

    Raises:
        DataError: (pairs) a pair without a text, naming ``source`` and the row.
    """
    if kind == "pairs":
        check_pair_texts(table, source)
        split = split_pairs(table, fraction, seed, hard_negatives)
    else:
        split = split_corpus(table, fraction, seed)
    texts: list[str] = []
    if kind == "pairs" and text_limit:
        texts = smallest_texts(table.column("text_a").to_pylist() + table.column("text_b").to_pylist(), text_limit)
    return RowSummary(
        rows=table.num_rows,
        train_counts=domain_counts(table, split.train),
        dropped=dict(split.dropped),
        heldout=table.filter(pa.array(split.heldout)).slice(0, limit),
        domains=sorted(set(pc.unique(table.column("domain")).to_pylist())),
        texts=texts,
    )


def merge(first: RowSummary, then: RowSummary, *, limit: int, text_limit: int = 0) -> RowSummary:
    """The summary of ``first``'s rows followed by ``then``'s."""
    def added(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}

    held = [t for t in (first.heldout, then.heldout) if t is not None]
    heldout = pa.concat_tables(held, promote_options="permissive").slice(0, limit) if held else None
    return RowSummary(
        rows=first.rows + then.rows,
        train_counts=added(first.train_counts, then.train_counts),
        dropped=added(first.dropped, then.dropped),
        heldout=heldout,
        domains=sorted(set(first.domains) | set(then.domains)),
        texts=smallest_texts(first.texts + then.texts, text_limit),
    )
