"""Item text from source fields: a template of fields in order, formatted and cleaned.

GRE embeds one text per item built from its metadata (Amazon: title, features,
description; Goodreads: title, description; Yelp: name, categories, ...). Each adapter
names its default fields; ``ingest.sources[*].text_fields`` reorders or replaces them and
``ingest.text`` sets labels, separators and cleaning. Lists are joined (elements that end
a sentence with a space, others with ``list_separator``), dicts become
``key: value`` pairs, empty fields are left out, and sentences repeated across fields
can be dropped (:class:`~gre_ray.ingest.clean.SentenceFilter`).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from gre_ray.ingest.clean import SentenceFilter, clean_text
from gre_ray.ingest.config import TextSettings

_SENTENCE_END = (".", "!", "?", ";", ":", "\u3002", "\uff01", "\uff1f")


def format_value(value: Any, list_separator: str) -> str:
    """One field value as text: lists joined, dicts as ``key: value`` pairs, None as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        parts = [p for p in (format_value(v, list_separator).strip() for v in value) if p]
        joined = parts[0] if parts else ""
        for part in parts[1:]:  # sentences (description paragraphs) join with a space, phrases with the separator
            joined += (" " if joined.endswith(_SENTENCE_END) else list_separator) + part
        return joined
    if isinstance(value, dict):
        pairs = ((k, format_value(v, list_separator).strip()) for k, v in value.items())
        return list_separator.join(f"{k}: {v}" for k, v in pairs if v)
    return str(value)


def label_of(name: str, settings: TextSettings) -> str:
    """The label printed before a field: configured, else the field name capitalised."""
    return settings.label_names.get(name) or name.replace("_", " ").strip().capitalize()


def build_text(fields: dict[str, Any], names: Sequence[str], settings: TextSettings) -> str:
    """The text of one item.

    Args:
        fields: the item's source fields (from an adapter).
        names: the fields to use, in order.
        settings: labels, separators and cleaning.

    Returns:
        The cleaned text; empty when no named field has content.
    """
    dedupe = SentenceFilter(settings.dedupe_sentences) if settings.dedupe_sentences else None
    parts = []
    for name in names:
        value = clean_text(format_value(fields.get(name), settings.list_separator), settings)
        if value and dedupe is not None:
            value = dedupe(value)
        if not value:
            continue
        parts.append(f"{label_of(name, settings)}: {value}" if settings.labels else value)
    return settings.field_separator.join(parts)


def fields_json(fields: dict[str, Any]) -> str:
    """The source fields as one JSON object (``raw_json`` of the items contract), keys sorted."""
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str)
