"""Which input rows train, which are held out, which are unusable (pure pyarrow/numpy).

The same functions run in the driver (to count rows and steps, and to reject bad input
before any worker starts) and inside Ray Data's ``map_batches`` (to feed the training rows
from Parquet), so both agree row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.errors import DataError
from gre_ray.train.heldout import heldout_mask, pair_keys

TRAIN, HELDOUT = "train", "heldout"


@dataclass
class RowSplit:
    """Masks over the rows of one table.

    Attributes:
        train: rows to train on.
        heldout: rows to evaluate on.
        dropped: reason → rows neither trained nor evaluated on.
    """

    train: np.ndarray
    heldout: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)


def _blank(column: pa.ChunkedArray) -> np.ndarray:
    """True where a text is null, empty or only whitespace."""
    stripped = pc.utf8_trim_whitespace(column.fill_null(""))
    return np.asarray(pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False), dtype=bool)


def _split(keys: list[str], usable: np.ndarray, fraction: float, seed: int, dropped: dict[str, int]) -> RowSplit:
    held = heldout_mask(keys, fraction, seed)
    return RowSplit(train=usable & ~held, heldout=usable & held, dropped={k: v for k, v in dropped.items() if v})


def split_pairs(table: pa.Table, fraction: float, seed: int, hard_negatives: int = 0) -> RowSplit:
    """Split pairs (``PAIRS_SCHEMA``) into train and held-out rows.

    Rows whose item_a equals item_b are dropped (a pair with itself teaches nothing);
    with ``hard_negatives`` = K, training rows with fewer than K negative texts are dropped.
    """
    a, b = table.column("item_a").to_pylist(), table.column("item_b").to_pylist()
    self_pair = np.asarray([x == y for x, y in zip(a, b)], dtype=bool)
    usable = ~self_pair
    dropped = {"item_a equals item_b": int(self_pair.sum())}
    split = _split(pair_keys(table.column("domain").to_pylist(), a, b), usable, fraction, seed, dropped)
    if hard_negatives:
        counts = pc.list_value_length(table.column("neg_texts").fill_null(pa.scalar([], pa.list_(pa.string()))))
        short = np.asarray(counts.to_numpy(zero_copy_only=False)) < hard_negatives
        split.dropped[f"fewer than {hard_negatives} hard negatives"] = int((split.train & short).sum())
        split.train &= ~short
        split.dropped = {k: v for k, v in split.dropped.items() if v}
    return split


def split_corpus(table: pa.Table, fraction: float, seed: int) -> RowSplit:
    """Split corpus rows (``domain``, ``item_id``, ``text``) into train and held-out rows."""
    blank = _blank(table.column("text"))
    keys = [f"{d}\0{i}" for d, i in zip(table.column("domain").to_pylist(), table.column("item_id").to_pylist())]
    return _split(keys, ~blank, fraction, seed, {"empty text": int(blank.sum())})


def check_pair_texts(table: pa.Table, source: str) -> None:
    """Raise DataError if any pair lacks a text (null, empty or whitespace)."""
    for column in ("text_a", "text_b"):
        blank = _blank(table.column(column))
        if blank.any():
            row = int(np.flatnonzero(blank)[0])
            raise DataError(
                f"{source}: {int(blank.sum())} pair(s) have no {column} (e.g. row {row}, "
                f"item {table.column('item_a' if column == 'text_a' else 'item_b')[row].as_py()!r}); "
                "the pairs stage must write a text for both items"
            )


def select_rows(batch: pa.Table, kind: str, part: str, fraction: float, seed: int, hard_negatives: int = 0) -> pa.Table:
    """The rows of ``batch`` in ``part`` (train or heldout): the Ray Data map function."""
    if kind == "pairs":
        split = split_pairs(batch, fraction, seed, hard_negatives)
    else:
        split = split_corpus(batch, fraction, seed)
    return batch.filter(pa.array(split.train if part == TRAIN else split.heldout))


def domain_counts(table: pa.Table, mask: np.ndarray) -> dict[str, int]:
    """Rows per domain among ``mask``."""
    domains, counts = np.unique(np.asarray(table.column("domain").to_pylist(), dtype=object)[mask], return_counts=True)
    return {str(d): int(c) for d, c in zip(domains, counts)}
