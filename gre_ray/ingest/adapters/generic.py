"""Any CSV, TSV, JSON Lines or Parquet file, with its columns named in the options.

Options: ``user_column``, ``item_column``, ``time_column``, ``rating_column`` (empty for
implicit feedback), ``time_unit`` (``s``, ``ms`` or a ``strptime`` format such as
``%Y-%m-%d``), ``item_id_column``, ``title_column``, ``delimiter`` (for ``.csv``/``.txt``;
``.tsv`` is always tab-separated) and ``header`` (``false`` with ``columns`` naming the
columns of a headerless file). The default text is every item column but the id.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import JSON_LINES, Adapter, Options, kept_fields, kind_of, one, timestamp_value, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, get_float, get_id, optional_text


def file_format(file_name: str, options: Options) -> RecordFormat:
    kind = kind_of(file_name)
    if kind in (".json", ".jsonl"):
        return JSON_LINES
    if kind == ".parquet":
        return RecordFormat(Syntax.PARQUET)
    if kind in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if kind == ".tsv" else options["delimiter"].replace("\\t", "\t")
        if options["header"].lower() == "false":
            columns = tuple(c.strip() for c in options["columns"].split(",") if c.strip())
            return RecordFormat(Syntax.DELIMITED, delimiter=delimiter, columns=columns)
        return RecordFormat(Syntax.DELIMITED, delimiter=delimiter, header=True)
    raise unknown_format(file_name, "generic", ".csv, .tsv, .txt, .json, .jsonl or .parquet")


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    rating_column = options["rating_column"]
    return one(
        Interaction(
            get_id(record, options["user_column"]),
            get_id(record, options["item_column"]),
            timestamp_value(record, options["time_column"], options["time_unit"]),
            get_float(record, rating_column, required=False) if rating_column else None,
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    id_column = options["item_id_column"]
    title = optional_text(record, options["title_column"])
    return ItemRecord(get_id(record, id_column), title, kept_fields(record, (id_column,)))


ADAPTER = Adapter(
    name="generic",
    homepage="",
    interactions_format=file_format,
    items_format=file_format,
    interactions=interactions,
    item=item,
    text_fields=(),
    options={
        "user_column": "user_id",
        "item_column": "item_id",
        "time_column": "timestamp",
        "rating_column": "rating",
        "time_unit": "s",
        "item_id_column": "item_id",
        "title_column": "title",
        "delimiter": ",",
        "header": "true",
        "columns": "",
    },
)
