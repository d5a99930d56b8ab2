"""Per-text quality signals: token count, normalised-text hash, distinct words, letter share.

These are the row-wise half of the quality filters (the decisions are in
:mod:`gre_ray.coreset.filters`). Heuristics in the spirit of the C4 / Gopher rules
(Raffel et al. 2020; Rae et al. 2021, "Scaling Language Models", appendix A): too short
or too long in tokens, too few distinct words, mostly digits or symbols. Token counts use
an HF tokenizer (the shipped all-MiniLM-L6-v2 by default), not characters, because the
reference implementation truncated text by characters (DESIGN.md).

Normalisation for exact de-duplication: NFKC, case-folding, every run of non-alphanumeric
characters (punctuation, underscores, whitespace) collapsed to one space, ends trimmed;
the hash is the 64-bit BLAKE2b digest of that, as 16 hex characters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa

from gre_ray.shipped import SHIPPED, resolve_shipped

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)

ANNOTATION_FIELDS = (
    pa.field("token_count", pa.int32()),
    pa.field("text_hash", pa.string()),
    pa.field("distinct_words", pa.int32()),
    pa.field("alpha_fraction", pa.float32()),
)


def normalize_text(text: str) -> str:
    """``"  Hello,  WORLD!! "`` → ``"hello world"`` (see the module docstring)."""
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_hash(text: str) -> str:
    """16-hex-character BLAKE2b hash of :func:`normalize_text` of ``text``."""
    return hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=8).hexdigest()


def distinct_words(text: str) -> int:
    """Number of distinct words of the normalised text."""
    return len(set(normalize_text(text).split()))


def alpha_fraction(text: str) -> float:
    """Share of letters among the non-space characters (1.0 for an empty text)."""
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return 1.0
    return sum(ch.isalpha() for ch in chars) / len(chars)


def resolve_tokenizer(name: str) -> str:
    """The tokenizer to load for ``name``: the shipped folder for ``minilm`` (:mod:`gre_ray.shipped`), else ``name``."""
    return resolve_shipped(name)


def load_tokenizer(name: str) -> Any:
    """A tokenizer from a hub name or folder.

    A folder with a ``tokenizer.json`` loads through the ``tokenizers`` library alone (no
    transformers or torch import, so tokenizer actors start in well under a second), with
    its stored truncation and padding switched off; anything else through
    ``transformers.AutoTokenizer``. Both count the same tokens (tests/coreset/test_quality.py).
    """
    path = Path(resolve_tokenizer(name))
    if (path / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path) if path.is_dir() else name or str(path))


def token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Tokens per text, without special tokens and without truncation."""
    if not texts:
        return []
    if hasattr(tokenizer, "encode_batch"):  # a ``tokenizers.Tokenizer``
        return [len(enc.ids) for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]
    encoded = tokenizer(
        texts, add_special_tokens=False, truncation=False, return_attention_mask=False, verbose=False
    )
    return [len(ids) for ids in encoded["input_ids"]]


class QualityAnnotator:
    """Ray Data map for ``map_batches``: adds the quality signals to a batch of texts.

    The tokenizer loads once per actor in ``__init__``; ``__call__`` maps a pyarrow batch
    with a ``text`` column to the same batch plus :data:`ANNOTATION_FIELDS`.
    """

    def __init__(self, tokenizer: str = SHIPPED) -> None:
        self.tokenizer = load_tokenizer(tokenizer)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return annotate(batch, self.tokenizer)


def annotate(batch: pa.Table, tokenizer: Any) -> pa.Table:
    """``batch`` with the columns of :data:`ANNOTATION_FIELDS` appended."""
    texts = batch.column("text").to_pylist()
    values = (
        token_counts(tokenizer, texts),
        [text_hash(t) for t in texts],
        [distinct_words(t) for t in texts],
        [alpha_fraction(t) for t in texts],
    )
    for fld, column in zip(ANNOTATION_FIELDS, values):
        batch = batch.append_column(fld, pa.array(column, type=fld.type))
    return batch
