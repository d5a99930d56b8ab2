"""RecBole atomic files (Zhao et al., CIKM 2021), as in RUCAIBox/RecSysDatasets.

Tab-separated files whose header names each column with its type, e.g.
``user_id:token\\titem_id:token\\trating:float\\ttimestamp:float`` (``.inter``) and
``item_id:token\\tmovie_title:token_seq\\trelease_year:token\\tgenre:token_seq`` (``.item``);
the type suffix is dropped. Options name the columns (``user_column``, ``item_column``,
``rating_column``, ``time_column``, ``title_column``). A file without a rating column gives
implicit rows; one without a time column gives timestamp 0 (rows keep file order).
The default text is every item column but the id, in file order.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, kept_fields, kind_of, one, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, get_epoch, get_float, get_id, optional_text

ATOMIC = RecordFormat(Syntax.DELIMITED, delimiter="\t", header=True, quoting=False, typed_header=True)


def atomic_format(expected: str):
    def fmt(file_name: str, options: Options) -> RecordFormat:
        if kind_of(file_name) != expected:
            raise unknown_format(file_name, "recbole", f"a {expected} atomic file")
        return ATOMIC

    return fmt


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    rating_column, time_column = options["rating_column"], options["time_column"]
    rating = get_float(record, rating_column) if rating_column in record else None
    timestamp = get_epoch(record, time_column) if time_column in record else 0
    return one(Interaction(get_id(record, options["user_column"]), get_id(record, options["item_column"]), timestamp, rating))


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    id_column = options["item_column"]
    title_column = options["title_column"]
    title = optional_text(record, title_column) if title_column else None
    if title is None:
        title = next((optional_text(record, k) for k in ("title", "movie_title", "name") if optional_text(record, k)), None)
    return ItemRecord(get_id(record, id_column), title, kept_fields(record, (id_column,)))


ADAPTER = Adapter(
    name="recbole",
    homepage="https://github.com/RUCAIBox/RecSysDatasets",
    interactions_format=atomic_format(".inter"),
    items_format=atomic_format(".item"),
    interactions=interactions,
    item=item,
    text_fields=(),
    options={
        "user_column": "user_id",
        "item_column": "item_id",
        "rating_column": "rating",
        "time_column": "timestamp",
        "title_column": "",
    },
)
