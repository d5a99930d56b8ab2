"""Yelp Open Dataset.

Files as published at https://www.yelp.com/dataset:

* ``yelp_academic_dataset_review.json``: ``review_id``, ``user_id``, ``business_id``,
  ``stars``, ``useful``, ``funny``, ``cool``, ``text``, ``date`` (``"2018-07-07 22:09:11"``);
* ``yelp_academic_dataset_business.json``: ``business_id``, ``name``, ``address``, ``city``,
  ``state``, ``postal_code``, ``latitude``, ``longitude``, ``stars``, ``review_count``,
  ``is_open``, ``attributes`` (dict), ``categories`` (one comma-separated string), ``hours``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, json_or_jsonl, kept_fields, one
from gre_ray.ingest.records import Interaction, ItemRecord, get_float, get_id, optional_text, parse_datetime


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    return one(
        Interaction(
            get_id(record, "user_id"),
            get_id(record, "business_id"),
            parse_datetime(record, "date", "%Y-%m-%d %H:%M:%S"),
            get_float(record, "stars"),
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    fields = kept_fields(record, ("business_id",))
    return ItemRecord(get_id(record, "business_id"), optional_text(record, "name"), fields)


ADAPTER = Adapter(
    name="yelp",
    homepage="https://www.yelp.com/dataset",
    interactions_format=lambda name, options: json_or_jsonl(name, "yelp"),
    items_format=lambda name, options: json_or_jsonl(name, "yelp"),
    interactions=interactions,
    item=item,
    text_fields=("name", "categories", "city", "state"),
)
