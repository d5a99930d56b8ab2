"""Checked access to the fields of one decoded record, shared by every adapter.

An adapter turns a record (a dict decoded from one line) into rows; whenever a field is
missing, null, of the wrong type or out of range it raises :class:`RowError` with a
reason such as ``missing_field:user_id``. The parser catches it and quarantines the line
with that reason, so every adapter reports bad rows with the same vocabulary.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, NamedTuple


class RowError(Exception):
    """A record that cannot become a row; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Interaction(NamedTuple):
    """One parsed interaction: raw ids, Unix seconds, explicit rating or None."""

    user_id: str
    item_id: str
    timestamp: int
    rating: float | None


class ItemRecord(NamedTuple):
    """One parsed item: its id, its title (or None) and the source fields for the text template."""

    item_id: str
    title: str | None
    fields: dict[str, Any]


def field_value(record: dict[str, Any], name: str) -> Any:
    """``record[name]``, or RowError ``missing_field:<name>`` when absent, null or blank."""
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowError(f"missing_field:{name}")
    return value


def get_id(record: dict[str, Any], name: str) -> str:
    """An id field as a string; ints are accepted (MovieLens, Steam), other types are not."""
    value = record.get(name)
    if type(value) is str:  # the common case first: this runs once per id per row
        value = value.strip()
        if value:
            return value
        raise RowError(f"missing_field:{name}")
    if type(value) is int:
        return str(value)
    if value is None:
        raise RowError(f"missing_field:{name}")
    raise RowError(f"wrong_type:{name}")


def get_float(record: dict[str, Any], name: str, *, required: bool = True) -> float | None:
    """A numeric field (numbers or numeric strings); None when optional and absent."""
    value = record.get(name)
    if type(value) is float:  # the common cases first
        if math.isfinite(value):
            return value
        raise RowError(f"wrong_type:{name}")
    if type(value) is int:
        if abs(value) < 1 << 62:
            return float(value)
        raise RowError(f"wrong_type:{name}")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"missing_field:{name}")
        return None
    if isinstance(value, bool):
        raise RowError(f"wrong_type:{name}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise RowError(f"wrong_type:{name}") from None
    else:
        raise RowError(f"wrong_type:{name}")
    if not math.isfinite(number):
        raise RowError(f"wrong_type:{name}")
    return number


def get_epoch(record: dict[str, Any], name: str, *, millis: bool = False) -> int:
    """A Unix timestamp field (seconds, or milliseconds with ``millis``) as whole seconds."""
    number = get_float(record, name)
    assert number is not None
    return int(number) // 1000 if millis else int(number)


def parse_datetime(record: dict[str, Any], name: str, fmt: str, *, default_utc: bool = True) -> int:
    """A formatted date field (``strptime`` format) as Unix seconds; naive dates are read as UTC."""
    value = field_value(record, name)
    if not isinstance(value, str):
        raise RowError(f"wrong_type:{name}")
    try:
        moment = datetime.strptime(value.strip(), fmt)
    except ValueError:
        raise RowError(f"bad_timestamp:{name}") from None
    if moment.tzinfo is None and default_utc:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def optional_text(record: dict[str, Any], name: str) -> str | None:
    """A text field as a stripped string, or None when absent, blank or not text."""
    value = record.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
