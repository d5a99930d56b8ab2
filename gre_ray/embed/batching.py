"""Batches by token budget: sort texts by token count, then fill each batch up to a budget.

Item texts range from a five-word title to a long description. Fixed-size batches in
input order pad every short text to the longest one beside it, so most of the compute
goes into padding; sorting by length and capping ``rows × longest row`` (the padded
tokens, which is what a forward pass costs) keeps padding small and memory bounded
whatever the lengths. The same idea drives length-grouped samplers in Hugging Face
training and the sorted batching of ``SentenceTransformer.encode``, which sorts by
character length within each call; here the sort is by exact token count.

Everything here is plain numpy on token id lists; the encoder runs the batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np


def clean_texts(texts: Sequence[str], prefix: str = "") -> tuple[list[str], np.ndarray]:
    """Put ``prefix`` before each text; empty and whitespace-only texts become the bare prefix.

    An empty text still gets a vector: the model's vector of the prefix alone (or of just
    the special tokens without a prefix), the same as ``SentenceTransformer.encode("")``.
    Whitespace-only texts map to the same vector rather than to whatever a tokenizer
    makes of the whitespace.

    Returns:
        ``(texts, empty)``: the texts to tokenize and a bool mask of the empty ones.
    """
    empty = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
    return [prefix if e else prefix + t for t, e in zip(texts, empty)], empty


def token_budget_batches(
    lengths: np.ndarray, token_budget: int, max_rows: int, *, sort: bool = True
) -> Iterator[np.ndarray]:
    """Split rows into batches whose padded size ``rows × longest`` stays within ``token_budget``.

    Args:
        lengths: token count of each row.
        token_budget: most padded tokens per batch; a row longer than the budget forms a
            batch of its own.
        max_rows: most rows per batch.
        sort: visit rows longest first (so each batch holds similar lengths and the
            first batch shows the peak memory); False keeps input order.

    Yields:
        Arrays of row indices; together they cover every row once.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable") if sort else np.arange(len(lengths))
    start = 0
    while start < len(order):
        longest = lengths[order[start]]
        end = start + 1
        while end < len(order) and end - start < max_rows:
            longest_next = max(longest, lengths[order[end]])
            if (end - start + 1) * longest_next > token_budget:
                break
            longest, end = longest_next, end + 1
        yield order[start:end]
        start = end


def fixed_size_batches(n: int, size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of ``size`` rows in input order (the unsorted baseline)."""
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


@dataclass(frozen=True)
class Padded:
    """A padded batch as int64 arrays of shape (rows, width)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None

    @property
    def width(self) -> int:
        return self.input_ids.shape[1]


def pad_rows(
    ids: Sequence[Sequence[int]],
    types: Sequence[Sequence[int]] | None,
    *,
    pad_id: int,
    pad_type_id: int = 0,
    left: bool = False,
) -> Padded:
    """Pad token id lists to the longest one, as ``tokenizer(..., padding=True)`` would.

    Args:
        ids: token ids of each row.
        types: token type ids of each row, or None when the model takes none.
        pad_id: the tokenizer's padding id.
        pad_type_id: the token type id of padding.
        left: pad on the left (decoder-only tokenizers) instead of the right.
    """
    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    type_ids = None if types is None else np.full((len(ids), width), pad_type_id, dtype=np.int64)
    for i, row in enumerate(ids):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, span] = row
        mask[i, span] = 1
        if type_ids is not None:
            type_ids[i, span] = types[i]
    return Padded(input_ids, mask, type_ids)
