"""Amazon Review Data 2018 (Ni, Li and McAuley, EMNLP 2019).

Files as published at https://nijianmo.github.io/amazon/:

* reviews ``<Category>.json.gz`` (and ``<Category>_5.json.gz``): ``reviewerID``, ``asin``,
  ``overall``, ``unixReviewTime`` (seconds), ``reviewTime`` (``"09 13, 2009"``), ``reviewText``,
  ``summary``, ``verified``, ``vote``, ``style``, ``image``;
* ratings only ``<Category>.csv``: ``item,user,rating,timestamp`` without a header;
* metadata ``meta_<Category>.json.gz``: ``asin``, ``title``, ``description`` (list),
  ``brand``, ``category`` (list), ``feature`` (list), ``rank``, ``also_buy``, ``also_view``,
  ``price``, ``imageURL``, ``imageURLHighRes``, ``details``, ``main_cat``, ``date``, ``similar_item``, ``tech1``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, json_or_jsonl, kept_fields, kind_of, one, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, get_epoch, get_float, get_id, optional_text, parse_datetime

RATING_CSV = RecordFormat(Syntax.DELIMITED, columns=("asin", "reviewerID", "overall", "unixReviewTime"))


def interactions_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) == ".csv":
        return RATING_CSV
    if kind_of(file_name) in (".json", ".jsonl"):
        return json_or_jsonl(file_name, "amazon2018")
    raise unknown_format(file_name, "amazon2018", ".json reviews or .csv ratings, optionally .gz")


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    if record.get("unixReviewTime") is None and record.get("reviewTime") is not None:
        timestamp = parse_datetime(record, "reviewTime", "%m %d, %Y")
    else:
        timestamp = get_epoch(record, "unixReviewTime")
    return one(Interaction(get_id(record, "reviewerID"), get_id(record, "asin"), timestamp, get_float(record, "overall")))


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    drop = ("asin", "imageURL", "imageURLHighRes", "also_buy", "also_view", "similar_item")
    return ItemRecord(get_id(record, "asin"), optional_text(record, "title"), kept_fields(record, drop))


ADAPTER = Adapter(
    name="amazon2018",
    homepage="https://nijianmo.github.io/amazon/index.html",
    interactions_format=interactions_format,
    items_format=lambda name, options: json_or_jsonl(name, "amazon2018"),
    interactions=interactions,
    item=item,
    text_fields=("title", "brand", "feature", "description", "category"),
)
