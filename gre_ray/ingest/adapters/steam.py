"""Steam (Kang and McAuley, ICDM 2018 "SASRec"; Wan and McAuley, RecSys 2018; Pathak et al., 2017).

Files as published at https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data. They
were written with Python's ``str(dict)``, so lines are Python literals (single quotes,
``True``), read with ``ast.literal_eval``, never ``eval``:

* ``steam_reviews.json.gz``: one review per line, ``username``, ``user_id`` (often absent),
  ``product_id``, ``date`` (``"2017-12-17"``), ``hours``, ``text``, ...;
* ``australian_user_reviews.json.gz``: one user per line, ``user_id`` and ``reviews``, a
  list of ``{item_id, posted: "Posted November 5, 2011.", recommend, review, ...}``;
* ``australian_users_items.json.gz``: one user per line, ``user_id`` and ``items``, a list
  of ``{item_id, item_name, playtime_forever, playtime_2weeks}``, with no times: rows get
  timestamp 0 (ties, kept in file order);
* ``steam_games.json.gz``: ``id``, ``app_name``, ``title``, ``genres``, ``tags``, ``specs``,
  ``developer``, ``publisher``, ``price``, ``release_date``, ``url``, ``reviews_url``, ...

A bad element of a user's list is quarantined alone; the user's other rows are kept.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import PY_LITERALS, Adapter, Options, kept_fields, kind_of, unknown_format
from gre_ray.ingest.formats import RecordFormat
from gre_ray.ingest.records import Interaction, ItemRecord, RowError, get_id, optional_text, parse_datetime


def literal_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) in (".json", ".jsonl"):
        return PY_LITERALS
    raise unknown_format(file_name, "steam", ".json.gz files of Python literals")


def _posted(element: dict[str, Any]) -> int:
    text = element.get("posted")
    if not isinstance(text, str):
        raise RowError("missing_field:posted")
    cleaned = {"posted": text.strip().removeprefix("Posted").strip().rstrip(".")}
    return parse_datetime(cleaned, "posted", "%B %d, %Y")


def _per_user(record: dict[str, Any], key: str, timed: bool) -> list[Interaction | RowError]:
    user = get_id(record, "user_id")
    elements = record.get(key)
    if not isinstance(elements, list):
        raise RowError(f"wrong_type:{key}")
    rows: list[Interaction | RowError] = []
    for element in elements:
        try:
            if not isinstance(element, dict):
                raise RowError(f"wrong_type:{key}")
            rows.append(Interaction(user, get_id(element, "item_id"), _posted(element) if timed else 0, None))
        except RowError as error:
            rows.append(error)
    return rows


def interactions(record: dict[str, Any], options: Options) -> list[Interaction | RowError]:
    if "reviews" in record:
        return _per_user(record, "reviews", timed=True)
    if "items" in record:
        return _per_user(record, "items", timed=False)
    user = get_id(record, "user_id") if record.get("user_id") else get_id(record, "username")
    return [Interaction(user, get_id(record, "product_id"), parse_datetime(record, "date", "%Y-%m-%d"), None)]


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    title = optional_text(record, "app_name") or optional_text(record, "title")
    fields = kept_fields(record, ("id", "url", "reviews_url"))
    return ItemRecord(get_id(record, "id"), title, {**fields, "app_name": title})


ADAPTER = Adapter(
    name="steam",
    homepage="https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data",
    interactions_format=literal_format,
    items_format=literal_format,
    interactions=interactions,
    item=item,
    text_fields=("app_name", "genres", "tags", "specs", "developer"),
)
