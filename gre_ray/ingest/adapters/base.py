"""What a source adapter is: the formats of its files and how a record becomes rows.

An adapter is plain data plus pure functions, so it is tested on literal records in
milliseconds and shipped to Ray workers by pickling. ``interactions`` may yield several
rows for one record (Steam's per-user item lists) and may yield a :class:`RowError` for a
bad element of a record whose other elements are good; raising RowError rejects the
whole record. Options are strings (from YAML), each with a documented default; an option
an adapter does not know is a config error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, RowError, get_epoch, parse_datetime

Options = Mapping[str, str]
InteractionRows = Iterable[Interaction | RowError]
# file name, role, first line, the format from the name, options -> (format, release read)
Inspector = Callable[[str, str, bytes, RecordFormat, Options], tuple[RecordFormat, str]]

JSON_LINES = RecordFormat(Syntax.JSON)
PY_LITERALS = RecordFormat(Syntax.PYLITERAL)


@dataclass(frozen=True)
class Adapter:
    """One published dataset format.

    Attributes:
        name: the adapter's name in configs and the registry.
        homepage: where the raw files are published.
        interactions_format: file name, options → how that interaction file's lines decode.
        items_format: likewise for item metadata files.
        interactions: record, options → interaction rows.
        item: record, options → the item.
        text_fields: the default text template, in order; empty: every field but the id.
        options: the valid options with their defaults.
        inspect: optional; reads a file's first line before any work starts to tell which
            of the published releases it is (header or not, column order) and returns the
            format to read it with and a note of the release; ValueError naming what was
            expected and what was found for a file in no known release format.
    """

    name: str
    homepage: str
    interactions_format: Callable[[str, Options], RecordFormat]
    items_format: Callable[[str, Options], RecordFormat]
    interactions: Callable[[dict[str, Any], Options], InteractionRows]
    item: Callable[[dict[str, Any], Options], ItemRecord]
    text_fields: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    inspect: Inspector | None = None

    def with_defaults(self, options: Mapping[str, Any]) -> dict[str, str]:
        """``options`` over the defaults, as strings (YAML ``false`` → ``"false"``); ValueError for an unknown key."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"adapter {self.name!r} has no option {', '.join(unknown)} (valid: {valid})")
        return {**self.options, **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}}


def kind_of(file_name: str) -> str:
    """The lower-case extension of a file name, ignoring ``.gz`` (``u.data`` → ``.data``)."""
    name = file_name.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def unknown_format(file_name: str, adapter: str, expected: str) -> ValueError:
    return ValueError(f"{file_name}: unknown format for adapter {adapter!r} (expected {expected})")


def unexpected_release(file_name: str, expected: str, found: bytes | str) -> ValueError:
    """The one-line error for a file in no release format the adapter knows."""
    text = found.decode("utf-8", errors="replace") if isinstance(found, bytes) else found
    shown = text[:120] + ("..." if len(text) > 120 else "")
    return ValueError(f"{file_name}: unexpected release format: expected {expected}, found {shown!r}")


def json_or_jsonl(file_name: str, adapter: str) -> RecordFormat:
    """JSON Lines for ``.json``/``.jsonl`` files, else an unknown-format error."""
    if kind_of(file_name) in (".json", ".jsonl"):
        return JSON_LINES
    raise unknown_format(file_name, adapter, ".json or .jsonl, optionally .gz")


def timestamp_value(record: dict[str, Any], name: str, unit: str) -> int:
    """A time field in ``unit``: ``s``/``ms`` epoch numbers, or a ``strptime`` format (naive = UTC)."""
    value = record.get(name)
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    if unit in ("s", "ms"):
        return get_epoch(record, name, millis=unit == "ms")
    return parse_datetime(record, name, unit)


def kept_fields(record: dict[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    """The record without the fields in ``drop`` (images, URLs, ids: no use for text)."""
    dropped = set(drop)
    return {k: v for k, v in record.items() if k not in dropped}


def one(row: Interaction) -> list[Interaction]:
    return [row]
