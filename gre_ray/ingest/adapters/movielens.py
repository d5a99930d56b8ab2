"""MovieLens (Harper and Konstan, TiiS 2015), GroupLens.

Files as published at https://grouplens.org/datasets/movielens/, chosen by file name:

* ml-100k ``u.data`` (and ``u1.base``, ...): ``user item rating timestamp``, tab-separated;
  ``u.item``: ``id|title|release date|video release date|IMDb URL|`` and 19 genre flags,
  ``|``-separated, latin-1;
* ml-1m / ml-10m ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``; ``movies.dat``:
  ``MovieID::Title::Genres`` (genres ``|``-separated), latin-1;
* ml-latest / ml-20m ``ratings.csv`` (``userId,movieId,rating,timestamp``) and
  ``movies.csv`` (``movieId,title,genres``), UTF-8 with headers.
"""

from __future__ import annotations

from typing import Any

from gre_ray.ingest.adapters.base import Adapter, Options, kind_of, one, unknown_format
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, RowError, get_epoch, get_float, get_id, optional_text

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
U_ITEM = RecordFormat(
    Syntax.DELIMITED,
    encoding="latin-1",
    delimiter="|",
    quoting=False,
    columns=("item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K),
)
MOVIES_DAT = RecordFormat(
    Syntax.DELIMITED, encoding="latin-1", delimiter="::", quoting=False, columns=("item_id", "title", "genres")
)


def interactions_format(file_name: str, options: Options) -> RecordFormat:
    kind = kind_of(file_name)
    if kind in (".data", ".base", ".test"):
        return RecordFormat(Syntax.DELIMITED, encoding="latin-1", delimiter="\t", quoting=False, columns=RATING_COLUMNS)
    if kind == ".dat":
        return RecordFormat(Syntax.DELIMITED, encoding="latin-1", delimiter="::", quoting=False, columns=RATING_COLUMNS)
    if kind == ".csv":
        return RecordFormat(Syntax.DELIMITED, header=True)
    raise unknown_format(file_name, "movielens", "u.data, ratings.dat or ratings.csv")


def items_format(file_name: str, options: Options) -> RecordFormat:
    kind = kind_of(file_name)
    if kind == ".item":
        return U_ITEM
    if kind == ".dat":
        return MOVIES_DAT
    if kind == ".csv":
        return RecordFormat(Syntax.DELIMITED, header=True)
    raise unknown_format(file_name, "movielens", "u.item, movies.dat or movies.csv")


def _key(record: dict[str, Any], ours: str, theirs: str) -> str:
    return ours if ours in record else theirs


def interactions(record: dict[str, Any], options: Options) -> list[Interaction]:
    return one(
        Interaction(
            get_id(record, _key(record, "user_id", "userId")),
            get_id(record, _key(record, "item_id", "movieId")),
            get_epoch(record, "timestamp"),
            get_float(record, "rating"),
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    item_id = get_id(record, _key(record, "item_id", "movieId"))
    if "genres" in record:
        genres = [g for g in str(record["genres"]).split("|") if g and g != "(no genres listed)"]
    else:
        flags = [record.get(name, "0").strip() for name in GENRES_100K]
        if any(flag not in ("0", "1") for flag in flags):
            raise RowError("wrong_type:genres")
        genres = [name for name, flag in zip(GENRES_100K, flags) if flag == "1" and name != "unknown"]
    title = optional_text(record, "title")
    fields = {"title": title, "genres": genres}
    if optional_text(record, "release_date"):
        fields["release_date"] = record["release_date"].strip()
    return ItemRecord(item_id, title, fields)


ADAPTER = Adapter(
    name="movielens",
    homepage="https://grouplens.org/datasets/movielens/",
    interactions_format=interactions_format,
    items_format=items_format,
    interactions=interactions,
    item=item,
    text_fields=("title", "genres"),
)
