"""Amazon Reviews 2023 (Hou et al., 2024, "Bridging Language and Items for Retrieval and Recommendation").

Files as published at https://amazon-reviews-2023.github.io/:

* reviews ``<Category>.jsonl(.gz)``: ``rating``, ``title``, ``text``, ``images``, ``asin``,
  ``parent_asin``, ``user_id``, ``timestamp`` (milliseconds), ``helpful_vote``,
  ``verified_purchase``;
* the 5-core / rating-only ``<Category>.csv(.gz)``: header ``user_id,parent_asin,rating,timestamp``;
* metadata ``meta_<Category>.jsonl(.gz)``: ``main_category``, ``title``, ``average_rating``,
  ``rating_number``, ``features`` (list), ``description`` (list), ``price``, ``images``,
  ``videos``, ``store``, ``categories`` (list), ``details`` (dict), ``parent_asin``,
  ``bought_together``.

Items are keyed by ``parent_asin`` (the metadata's key; a review's ``asin`` is a variant),
as in the dataset's own benchmark files. Option ``item_key`` switches reviews to ``asin``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, json_or_jsonl, kept_fields, kind_of, one, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, get_epoch, get_float, get_id, optional_text

RATING_CSV = RecordFormat(Syntax.DELIMITED, header=True)


def interactions_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) == ".csv":
        return RATING_CSV
    if kind_of(file_name) in (".json", ".jsonl"):
        return json_or_jsonl(file_name, "amazon2023")
    raise unknown_format(file_name, "amazon2023", ".jsonl reviews or .csv ratings, optionally .gz")


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    return one(
        Interaction(
            get_id(record, "user_id"),
            get_id(record, options["item_key"]),
            get_epoch(record, "timestamp", millis=True),
            get_float(record, "rating"),
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    return ItemRecord(
        get_id(record, "parent_asin"),
        optional_text(record, "title"),
        kept_fields(record, ("parent_asin", "images", "videos")),
    )


ADAPTER = Adapter(
    name="amazon2023",
    homepage="https://amazon-reviews-2023.github.io/",
    interactions_format=interactions_format,
    items_format=lambda name, options: json_or_jsonl(name, "amazon2023"),
    interactions=interactions,
    item=item,
    text_fields=("title", "features", "description"),
    options={"item_key": "parent_asin"},
)
