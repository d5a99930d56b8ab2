"""Amazon Reviews 2023 (Hou et al., 2024, "Bridging Language and Items for Retrieval and Recommendation").

Files as published at https://amazon-reviews-2023.github.io/:

* reviews ``<Category>.jsonl(.gz)``: ``rating``, ``title``, ``text``, ``images``, ``asin``,
  ``parent_asin``, ``user_id``, ``timestamp`` (milliseconds), ``helpful_vote``,
  ``verified_purchase``;
* the k-core rating-only ``benchmark/<k>core/rating_only/<Category>.csv(.gz)``: columns
  ``user_id,parent_asin,rating,timestamp``, with that header row since the release of
  2024-02-25 ("Add column head" on the Hugging Face mirror McAuley-Lab/Amazon-Reviews-2023),
  without it before; both are read, and the manifest records which;
* metadata ``meta_<Category>.jsonl(.gz)``: ``main_category``, ``title``, ``average_rating``,
  ``rating_number``, ``features`` (list), ``description`` (list), ``price``, ``images``,
  ``videos``, ``store``, ``categories`` (list), ``details`` (dict), ``parent_asin``,
  ``bought_together``.

Items are keyed by ``parent_asin`` (the metadata's key; a review's ``asin`` is a variant),
as in the dataset's own benchmark files. Option ``item_key`` switches reviews to ``asin``.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import (
    Adapter, Options, json_or_jsonl, kept_fields, kind_of, one, unexpected_release, unknown_format,
)  # fmt: skip
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, get_epoch, get_float, get_id, optional_text

RATING_CSV = RecordFormat(Syntax.DELIMITED, header=True)
RATING_COLUMNS = ("user_id", "parent_asin", "rating", "timestamp")


def inspect(file_name: str, role: str, line: bytes, fmt: RecordFormat, options: Options) -> tuple[RecordFormat, str]:
    """Which release a file is: rating CSV with or without its header, or JSON Lines."""
    text = line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if fmt.syntax is Syntax.DELIMITED:
        names = tuple(name.strip() for name in text.split(","))
        if names == RATING_COLUMNS:
            return fmt, "rating-only CSV with header"
        if len(names) == len(RATING_COLUMNS):
            return RecordFormat(Syntax.DELIMITED, columns=RATING_COLUMNS), "rating-only CSV without header (release before 2024-02-25)"
        raise unexpected_release(file_name, f"rating-only CSV {','.join(RATING_COLUMNS)}", line)
    if not text.startswith("{"):
        raise unexpected_release(file_name, "JSON Lines, one object per line", line)
    return fmt, ""


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
    inspect=inspect,
)
