"""Google Local reviews (Li et al., ACL 2022 "UCTopic"; Yan et al., SIGIR 2023), per US state.

Files as published at https://jiachengli1995.github.io/google/index.html:

* ``review-<State>.json.gz`` (and the 10-core ``review-<State>_10.json.gz``): ``user_id``,
  ``name`` (the reviewer), ``time`` (milliseconds), ``rating``, ``text``, ``pics``,
  ``resp``, ``gmap_id``;
* ``meta-<State>.json.gz``: ``name``, ``address``, ``gmap_id``, ``description``,
  ``latitude``, ``longitude``, ``category`` (list), ``avg_rating``, ``num_of_reviews``,
  ``price``, ``hours``, ``MISC`` (dict of lists), ``state``, ``relative_results``, ``url``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, json_or_jsonl, kept_fields, one
from gre_ray.ingest.records import Interaction, ItemRecord, get_epoch, get_float, get_id, optional_text


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    return one(
        Interaction(
            get_id(record, "user_id"),
            get_id(record, "gmap_id"),
            get_epoch(record, "time", millis=True),
            get_float(record, "rating"),
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    fields = kept_fields(record, ("gmap_id", "relative_results", "url"))
    return ItemRecord(get_id(record, "gmap_id"), optional_text(record, "name"), fields)


ADAPTER = Adapter(
    name="google_local",
    homepage="https://jiachengli1995.github.io/google/index.html",
    interactions_format=lambda name, options: json_or_jsonl(name, "google_local"),
    items_format=lambda name, options: json_or_jsonl(name, "google_local"),
    interactions=interactions,
    item=item,
    text_fields=("name", "category", "description"),
)
