"""Cleaning item text: HTML, addresses, control characters, whitespace, repeated sentences.

Source text is scraped: Amazon descriptions carry HTML and escaped entities, Google Local
and Yelp fields carry URLs and e-mail addresses, and sellers repeat their feature bullets
in the description. Cleaning removes what carries no meaning for an embedding model and
keeps everything else: Unicode stays (CJK titles, accents) unless ``ascii_only`` is set,
and nothing is truncated here, since truncation is by tokens at embedding time (the
reference implementation cut texts at 256 characters, DESIGN.md).
"""

from __future__ import annotations

import html
import re
import unicodedata

from gre_ray.ingest.config import TextSettings

_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]{0,2000}>", re.S)
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\ufeff]")
_SPACE = re.compile(r"\s+")
_GAP_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")  # left where an address was cut out
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")
_WORD = re.compile(r"\w+")


def clean_text(text: str, settings: TextSettings) -> str:
    """``text`` without HTML, URLs, e-mails (each as configured), control characters and repeated spaces."""
    if settings.strip_html:
        if "&" in text:
            text = html.unescape(text)
        if "<" in text:
            text = _TAG.sub(" ", text)
    cut = 0
    if settings.strip_urls and ("http" in text or "www." in text or "WWW." in text):
        text, n = _URL.subn(" ", text)
        cut += n
    if settings.strip_emails and "@" in text:
        text, n = _EMAIL.subn(" ", text)
        cut += n
    text = _INVISIBLE.sub(" ", text)
    if cut:
        text = _GAP_BEFORE_PUNCT.sub(r"\1", text)
    if settings.ascii_only:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _SPACE.sub(" ", text).strip()


class SentenceFilter:
    """Drops sentences that repeat an earlier sentence of the same item.

    Two sentences are near-duplicates when the Jaccard similarity of their lower-cased word
    sets reaches ``threshold``; at 1.0 only sentences with the same words are dropped. One
    filter is used across all fields of an item, so a feature bullet repeated in the
    description is kept once, where it first appears.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._seen: list[frozenset[str]] = []

    def __call__(self, text: str) -> str:
        kept = []
        for sentence in _SENTENCE_END.split(text):
            words = frozenset(_WORD.findall(sentence.lower()))
            if words and self._repeats(words):
                continue
            if words:
                self._seen.append(words)
            kept.append(sentence)
        return " ".join(kept)

    def _repeats(self, words: frozenset[str]) -> bool:
        for seen in self._seen:
            if words == seen:
                return True
            if self.threshold < 1.0 and len(words & seen) >= self.threshold * len(words | seen):
                return True
        return False
