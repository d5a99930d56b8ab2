"""NineRec (Zhang et al., TPAMI 2024): Bilibili, Douyin, Kuaishou, QQ Browser, Tencent News sets.

Published at https://github.com/westlake-repl/NineRec. Each downstream set ships

* interactions as a pair file ``<Set>_pair.csv`` with a header naming the user, item and
  time columns (options ``user_column``, ``item_column``, ``time_column``, ``time_unit``),
  or as the ``behaviors.tsv`` layout its baselines read: ``user\\titem item item ...`` per
  line, oldest first; such rows carry their position in the sequence as timestamp, which
  orders them and nothing more;
* item titles ``<Set>_item.csv`` without a header: ``item_id, Chinese title, English title``
  (option ``item_columns`` renames or reorders them, ``item_header: true`` reads a header).

The text uses the English title (option ``language: zh`` for the Chinese one); both are
kept in ``raw_json``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, kept_fields, kind_of, one, timestamp_value, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, RowError, get_id, optional_text

BEHAVIORS = RecordFormat(Syntax.DELIMITED, delimiter="\t", columns=("user_id", "item_sequence"), quoting=False)


def interactions_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) == ".csv":
        return RecordFormat(Syntax.DELIMITED, header=True)
    if kind_of(file_name) == ".tsv":
        return BEHAVIORS
    raise unknown_format(file_name, "ninerec", "a .csv pair file or a .tsv behaviors file")


def items_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) != ".csv":
        raise unknown_format(file_name, "ninerec", "a .csv title file")
    if options["item_header"].lower() == "true":
        return RecordFormat(Syntax.DELIMITED, header=True)
    columns = tuple(c.strip() for c in options["item_columns"].split(","))
    return RecordFormat(Syntax.DELIMITED, columns=columns)


def interactions(record: dict[str, Any], options: Options) -> list[Interaction | RowError]:
    if "item_sequence" in record:
        user = get_id(record, "user_id")
        items = record["item_sequence"].split()
        if not items:
            raise RowError("missing_field:item_sequence")
        return [Interaction(user, item, position, None) for position, item in enumerate(items)]
    return one(
        Interaction(
            get_id(record, options["user_column"]),
            get_id(record, options["item_column"]),
            timestamp_value(record, options["time_column"], options["time_unit"]),
            None,
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    item_id = get_id(record, "item_id")
    zh, en = optional_text(record, "title"), optional_text(record, "title_en")
    chosen = zh if options["language"] == "zh" else en
    fields = {**kept_fields(record, ("item_id", "title", "title_en")), "title": chosen, "title_zh": zh, "title_en": en}
    return ItemRecord(item_id, chosen, fields)


ADAPTER = Adapter(
    name="ninerec",
    homepage="https://github.com/westlake-repl/NineRec",
    interactions_format=interactions_format,
    items_format=items_format,
    interactions=interactions,
    item=item,
    text_fields=("title",),
    options={
        "user_column": "user_id",
        "item_column": "item_id",
        "time_column": "timestamp",
        "time_unit": "s",
        "item_columns": "item_id,title,title_en",
        "item_header": "false",
        "language": "en",
    },
)
