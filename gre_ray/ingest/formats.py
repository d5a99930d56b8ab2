"""Decoding one raw line into a record (a dict of field name → value).

Published recommendation data comes in a handful of line syntaxes: JSON Lines (Amazon,
Goodreads, Yelp, Google Local), Python literals (Steam, whose files were written with
``str(dict)``), delimited text with a header (CSV, RecBole's typed TSV) or without one
(MovieLens ``::`` and ``|`` files, NineRec's title file), and Parquet for the generic
adapter. Each decoder checks one line in isolation and raises :class:`RowError` with the
reason a line is unusable, so one bad line never takes its neighbours with it.
"""

from __future__ import annotations

import ast
import csv
import enum
import json
from dataclasses import dataclass
from typing import Any

from gre_ray.ingest.records import RowError


try:  # orjson parses a JSON line ~3x faster than the standard library; same values for the published files
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library is the fallback
    _json_loads = json.loads


class Syntax(str, enum.Enum):
    JSON = "json"
    PYLITERAL = "pyliteral"
    DELIMITED = "delimited"
    PARQUET = "parquet"


@dataclass(frozen=True)
class RecordFormat:
    """How the lines of one file decode into records.

    Attributes:
        syntax: the line syntax.
        encoding: text encoding of the file (MovieLens files are latin-1).
        delimiter: field separator of delimited lines; may be several characters (``::``).
        columns: column names of delimited lines when the file has no header.
        header: the first line of the file names the columns (it is not a record).
        quoting: CSV quoting rules apply (single-character delimiters only).
        typed_header: header names carry a type suffix to strip (RecBole ``user_id:token``).
    """

    syntax: Syntax
    encoding: str = "utf-8"
    delimiter: str = ","
    columns: tuple[str, ...] = ()
    header: bool = False
    quoting: bool = True
    typed_header: bool = False

    def __post_init__(self) -> None:
        if self.syntax is Syntax.DELIMITED and not self.header and not self.columns:
            raise ValueError("a delimited format needs a header or column names")

    @property
    def line_based(self) -> bool:
        return self.syntax is not Syntax.PARQUET


def decode_text(raw: bytes, encoding: str) -> str:
    """``raw`` as text without its line ending; RowError ``invalid_<encoding>`` for undecodable bytes."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise RowError(f"invalid_{encoding.replace('-', '').lower()}") from None
    return text[:-1] if text.endswith("\r") else text


def split_delimited(text: str, fmt: RecordFormat) -> list[str]:
    """The fields of one delimited line."""
    if fmt.quoting and len(fmt.delimiter) == 1:
        try:
            rows = list(csv.reader([text], delimiter=fmt.delimiter, strict=True))
        except csv.Error:
            raise RowError("malformed_csv") from None
        return rows[0] if rows else []
    return text.split(fmt.delimiter)


def parse_header(raw: bytes, fmt: RecordFormat) -> tuple[str, ...]:
    """Column names from a header line (BOM, spaces and RecBole type suffixes removed)."""
    text = decode_text(raw, fmt.encoding).lstrip("\ufeff")
    names = [name.strip() for name in split_delimited(text, fmt)]
    if fmt.typed_header:
        names = [name.rsplit(":", 1)[0] if ":" in name else name for name in names]
    if not names or not all(names) or len(set(names)) != len(names):
        raise RowError("malformed_header")
    return tuple(names)


def decode_record(text: str, fmt: RecordFormat, columns: tuple[str, ...]) -> dict[str, Any]:
    """One record from one decoded line.

    Args:
        text: the line, decoded, without its line ending.
        fmt: the file's format.
        columns: the column names of delimited lines (from the header or ``fmt.columns``).

    Returns:
        The record as a dict.

    Raises:
        RowError: ``malformed_json``, ``malformed_literal``, ``malformed_csv``,
            ``wrong_column_count`` or ``not_an_object``.
    """
    if fmt.syntax is Syntax.JSON:
        try:
            value = _json_loads(text)
        except ValueError:
            raise RowError("malformed_json") from None
    elif fmt.syntax is Syntax.PYLITERAL:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RowError("malformed_literal") from None
    elif fmt.syntax is Syntax.DELIMITED:
        values = split_delimited(text, fmt)
        if len(values) != len(columns):
            raise RowError("wrong_column_count")
        return dict(zip(columns, values))
    else:
        raise ValueError(f"{fmt.syntax} records are not line based")
    if not isinstance(value, dict):
        raise RowError("not_an_object")
    return value
