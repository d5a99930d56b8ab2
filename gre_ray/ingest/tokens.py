"""Counting tokens of item texts, for the ``#tokens`` column of GRE-B's dataset table.

Texts are counted whole (no truncation, no padding, no special tokens) with the tokenizer
of the embedding model, by default the shipped all-MiniLM-L6-v2, so the figure shows how
much of each text an encoder with a given token limit will see. Only the items that end
up in the ``items`` artifact are counted, one row group per task: tokenizing is the
costliest step per item, and Amazon metadata files hold many items that the 5-core drops. A folder with a
``tokenizer.json`` is read with the ``tokenizers`` library directly (fast, and free of the
saved truncation and padding settings); anything else goes through ``AutoTokenizer``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable

import numpy as np

from gre_ray.shipped import resolve_shipped



def resolve_tokenizer(name: str) -> str | None:
    """The folder or HF name to load for ``name`` (:mod:`gre_ray.shipped`); None when token counting is off."""
    return resolve_shipped(name) if name else None


@lru_cache(maxsize=4)
def token_counter(path: str) -> Callable[[list[str]], list[int]]:
    """A function from texts to their token counts, loaded once per process.

    Args:
        path: a tokenizer folder or HF name (see :func:`resolve_tokenizer`).

    Returns:
        ``count(texts) -> [n_tokens, ...]``.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    file = os.path.join(path, "tokenizer.json")
    if os.path.isfile(file):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(file)
        tokenizer.no_truncation()
        tokenizer.no_padding()

        def count_fast(texts: list[str]) -> list[int]:
            return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

        return count_fast

    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(path)

    def count_auto(texts: list[str]) -> list[int]:
        ids = auto(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    return count_auto


def row_groups(uri: str) -> int:
    """Row groups of a Parquet file (the units token counting is spread over)."""
    import pyarrow.parquet as pq

    from gre_ray.data.storage import Location

    loc = Location.of(uri)
    with loc.fs.open_input_file(loc.path) as handle:
        return pq.ParquetFile(handle).metadata.num_row_groups


def count_row_group(uri: str, group: int, tokenizer: str) -> np.ndarray:
    """Token counts of the ``text`` column of one row group of an items Parquet file."""
    import pyarrow.parquet as pq

    from gre_ray.data.storage import Location

    loc = Location.of(uri)
    with loc.fs.open_input_file(loc.path) as handle:
        texts = pq.ParquetFile(handle).read_row_group(group, columns=["text"]).column("text").to_pylist()
    return np.asarray(token_counter(tokenizer)(texts) if texts else [], np.int64)


def summarize(counts: np.ndarray) -> dict[str, float | int]:
    """``tokens_total``, ``tokens_mean`` and ``tokens_p95`` of per-item token counts."""
    if len(counts) == 0:
        return {"tokens_total": 0, "tokens_mean": 0.0, "tokens_p95": 0}
    return {
        "tokens_total": int(counts.sum()),
        "tokens_mean": round(float(counts.mean()), 2),
        "tokens_p95": int(np.percentile(counts, 95)),
    }
