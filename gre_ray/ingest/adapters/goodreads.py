"""Goodreads book graph (Wan and McAuley, RecSys 2018; Wan et al., ACL 2019), UCSD.

Files as published at https://mengtingwan.github.io/data/goodreads.html:

* ``goodreads_interactions_<genre>.json.gz`` (and ``goodreads_reviews_<genre>.json.gz``):
  ``user_id``, ``book_id``, ``review_id``, ``is_read``, ``rating`` (0 = not rated),
  ``review_text_incomplete``, ``date_added``/``date_updated``/``read_at``/``started_at``
  like ``"Tue Oct 17 12:48:38 -0700 2017"``;
* ``goodreads_books_<genre>.json.gz``: ``book_id``, ``title``, ``title_without_series``,
  ``description``, ``authors`` (ids), ``publisher``, ``popular_shelves``, ``isbn``, ...

A rating of 0 means the user shelved the book without rating it; it becomes a null
rating (implicit feedback), not a zero. Option ``time_field`` picks the date (default
``date_added``).
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, json_or_jsonl, kept_fields, one
from gre_ray.ingest.records import Interaction, ItemRecord, get_float, get_id, optional_text, parse_datetime

DATE_FORMAT = "%a %b %d %H:%M:%S %z %Y"


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    rating = get_float(record, "rating", required=False)
    return one(
        Interaction(
            get_id(record, "user_id"),
            get_id(record, "book_id"),
            parse_datetime(record, options["time_field"], DATE_FORMAT),
            rating if rating else None,
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    title = optional_text(record, "title") or optional_text(record, "title_without_series")
    drop = ("book_id", "image_url", "url", "link", "similar_books")
    return ItemRecord(get_id(record, "book_id"), title, kept_fields(record, drop))


ADAPTER = Adapter(
    name="goodreads",
    homepage="https://mengtingwan.github.io/data/goodreads.html",
    interactions_format=lambda name, options: json_or_jsonl(name, "goodreads"),
    items_format=lambda name, options: json_or_jsonl(name, "goodreads"),
    interactions=interactions,
    item=item,
    text_fields=("title", "description"),
    options={"time_field": "date_added"},
)
