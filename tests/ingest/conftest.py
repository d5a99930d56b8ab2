"""Raw files in each source's published format, with bad rows, written into tmp folders.

Each ``write_<source>(root)`` writes the files and returns the ``ingest.sources`` entry
that reads them. Line numbers of bad rows are noted beside them: the tests check that
quarantine reports exactly those.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MS = 1_600_000_000_000  # 2020-09-13 in milliseconds
S = MS // 1000


def jsonl(path: Path, rows: list[Any], *, gz: bool = False) -> None:
    """One row per line; a str row is written verbatim (malformed lines), a dict as JSON."""
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())


def pylines(path: Path, rows: list[Any]) -> None:
    """Python-literal lines (Steam's ``str(dict)``), gzipped."""
    path.write_bytes(gzip.compress("".join((r if isinstance(r, str) else repr(r)) + "\n" for r in rows).encode()))


def review23(user: Any, item: str, rating: Any = 5.0, ts: Any = MS, **extra: Any) -> dict:
    row = {"rating": rating, "title": "Nice", "text": "Works.", "images": [], "asin": item + "-v", "parent_asin": item,
           "user_id": user, "timestamp": ts, "helpful_vote": 0, "verified_purchase": True}  # fmt: skip
    return {**row, **extra}


def meta23(item: str | None, title: str, features: list[str], description: list[str]) -> dict:
    row = {"main_category": "Arts", "title": title, "average_rating": 4.5, "rating_number": 10, "features": features,
           "description": description, "price": 9.99, "images": [{"large": "x.jpg"}], "videos": [], "store": "Acme",
           "categories": ["Arts", "Paint"], "details": {"Brand": "Acme"}, "bought_together": None}  # fmt: skip
    if item is not None:
        row["parent_asin"] = item
    return row


def write_amazon2023(root: Path) -> dict:
    """Reviews (plain JSONL) with 6 bad lines, 1 duplicate pair, metadata (.gz) with 3 bad lines.

    Fields as documented at https://amazon-reviews-2023.github.io/ ("Data Fields") and read by
    the dataset's loader on the Hugging Face mirror (McAuley-Lab/Amazon-Reviews-2023,
    ``Amazon-Reviews-2023.py``): ``raw/review_categories/<Cat>.jsonl``, ``raw/meta_categories/meta_<Cat>.jsonl``.
    """
    lines = [
        review23("U1", "P1"),  # 1
        review23("U1", "P2", ts=MS + 1000),  # 2
        '{"rating": 4.0, "title": "cut',  # 3 malformed_json
        review23(None, "P1"),  # 4 missing_field:user_id
        review23("U2", "P1", rating="five"),  # 5 wrong_type:rating
        review23("U2", "P2", ts=-5000),  # 6 timestamp_out_of_range
        "",  # 7 blank
        review23("U2", "P3"),  # 8 item_without_metadata
        review23("U2", "P2", ts=MS + 2000),  # 9
    ]
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in lines).encode()
    text += b'{"rating": 5.0, "user_id": "U\xff\xfe", "parent_asin": "P1", "timestamp": 1}\n'  # 10 invalid_utf8
    text += (json.dumps(review23("U1", "P1", ts=MS + 9000)) + "\n").encode()  # 11 duplicate_pair (later)
    text += b"[1, 2]\n"  # 12 not_an_object
    (root / "Arts.jsonl").write_bytes(text)
    meta = [
        meta23("P1", "Tent &amp; <b>Shelter</b>", ["Waterproof", "Light"], ["See http://x.com or mail a@b.com.\x07"]),  # 1
        meta23("P2", "Stove", [], ["Boils fast.", "<p>Simmer&nbsp;control</p>"]),  # 2
        meta23("P1", "Tent &amp; <b>Shelter</b>", ["Waterproof", "Light"], ["See http://x.com or mail a@b.com.\x07"]),  # 3 same
        meta23("P2", "Stove v2", [], []),  # 4 duplicate_item_conflict
        meta23("P4", "", [], []),  # 5 empty_text
        meta23(None, "No id", [], []),  # 6 missing_field:parent_asin
        meta23("P9", "Never bought", ["Unused"], []),  # 7 no_interactions
    ]
    jsonl(root / "meta_Arts.jsonl.gz", meta, gz=True)
    return {"name": "Arts", "adapter": "amazon2023", "scenario": "e-commerce",
            "interactions": ["Arts.jsonl"], "items": ["meta_Arts.jsonl.gz"]}  # fmt: skip


def write_amazon2023_csv(root: Path) -> dict:
    """The 5-core rating-only CSV (.gz) with its header; one short line.

    As published under ``benchmark/5core/rating_only/<Cat>.csv`` (https://amazon-reviews-2023.github.io/
    data_processing/5core.html; header row since the mirror's "Add column head" commit of 2024-02-25).
    """
    rows = ["user_id,parent_asin,rating,timestamp", f"U1,P1,5.0,{MS}", f"U2,P1,4.0,{MS + 5}", "U3,P1", f"U3,P2,3.0,{MS}"]
    (root / "Arts_core.csv.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    jsonl(root / "meta_core.jsonl", [meta23("P1", "Brush", ["Soft"], []), meta23("P2", "Easel", [], ["Wooden."])])
    return {"name": "ArtsCore", "adapter": "amazon2023", "interactions": ["Arts_core.csv.gz"], "items": ["meta_core.jsonl"]}


def write_amazon2018(root: Path) -> dict:
    """Reviews and metadata as documented at https://nijianmo.github.io/amazon/index.html (sample review/meta)."""
    reviews = [
        {"overall": 5.0, "verified": True, "reviewTime": "09 13, 2009", "reviewerID": "A1", "asin": "0001",
         "reviewerName": "x", "reviewText": "good", "summary": "ok", "unixReviewTime": 1252800000},  # fmt: skip
        {"overall": 3.0, "reviewTime": "01 02, 2010", "reviewerID": "A2", "asin": "0001"},  # reviewTime only
        {"overall": 4.0, "reviewerID": "A2", "asin": "0002", "unixReviewTime": "soon"},  # 3 wrong_type
    ]
    meta = [
        {"asin": "0001", "title": "Glue", "brand": "Elmer", "category": ["Arts", "Glue"], "feature": ["Strong"],
         "description": ["Sticks.", ""], "imageURL": ["u"], "also_buy": ["0002"]},  # fmt: skip
        {"asin": "0002", "title": "Tape", "description": []},
    ]
    jsonl(root / "Arts_2018.json.gz", reviews, gz=True)
    jsonl(root / "meta_Arts_2018.json.gz", meta, gz=True)
    return {"name": "Arts2018", "adapter": "amazon2018", "interactions": ["Arts_2018.json.gz"], "items": ["meta_Arts_2018.json.gz"]}


def write_goodreads(root: Path, *, truncate: bool = True) -> dict:
    """Interactions .gz cut short inside its last line (truncated_gzip on line 5).

    Fields as in the samples of https://mengtingwan.github.io/data/goodreads.html and the
    reader notebooks of MengtingWan/goodreads (``samples/``, ``reading_data.ipynb``).
    """
    inter = [
        {"user_id": "u1", "book_id": "b1", "review_id": "r1", "is_read": True, "rating": 5, "date_added": "Tue Oct 17 12:48:38 -0700 2017"},
        {"user_id": "u1", "book_id": "b2", "review_id": "r2", "is_read": False, "rating": 0, "date_added": "Wed Oct 18 12:00:00 -0700 2017"},
        {"user_id": "u2", "book_id": "b1", "review_id": "r3", "is_read": True, "rating": 3, "date_added": "17 Oct 2017"},  # 3 bad_timestamp
        {"user_id": "u2", "book_id": "b2", "review_id": "r4", "is_read": True, "rating": 4, "date_added": "Thu Oct 19 08:00:00 +0000 2017"},
        {"user_id": "u3", "book_id": "b2", "review_id": "r5", "is_read": True, "rating": 2, "date_added": "Fri Oct 20 08:00:00 +0000 2017"},
    ]  # fmt: skip
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in inter).encode())
    (root / "goodreads_interactions_poetry.json.gz").write_bytes(data[:-30] if truncate else data)
    books = [
        {"book_id": "b1", "title": "Leaves of Grass", "description": "Poems.<br />Classic.", "authors": [{"author_id": "1", "role": ""}],
         "publisher": "X", "popular_shelves": [{"count": "3", "name": "poetry"}], "image_url": "i"},
        {"book_id": "b2", "title": "", "title_without_series": "Ariel", "description": "Plath."},
    ]  # fmt: skip
    jsonl(root / "goodreads_books_poetry.json.gz", books, gz=True)
    return {"name": "Goodreads", "adapter": "goodreads", "scenario": "book",
            "interactions": ["goodreads_interactions_poetry.json.gz"], "items": ["goodreads_books_poetry.json.gz"]}  # fmt: skip


def write_yelp(root: Path) -> dict:
    """JSON Lines as in https://www.yelp.com/dataset/documentation/main (review.json, business.json)."""
    reviews = [
        {"review_id": "r1", "user_id": "y1", "business_id": "B1", "stars": 4.0, "useful": 0, "text": "t", "date": "2018-07-07 22:09:11"},
        {"review_id": "r2", "user_id": "y1", "business_id": "B2", "stars": 2.0, "date": "2018-07-08 10:00:00"},
        {"review_id": "r3", "user_id": "y2", "business_id": "B1", "stars": 5, "date": "yesterday"},  # 3 bad_timestamp
    ]  # fmt: skip
    business = [
        {"business_id": "B1", "name": "Pho 99", "address": "1 Main", "city": "Tucson", "state": "AZ", "stars": 4.5,
         "attributes": {"WiFi": "u'free'"}, "categories": "Vietnamese, Soup, Restaurants", "hours": None},  # fmt: skip
        {"business_id": "B2", "name": "Café Ünique", "city": "Reno", "state": "NV", "categories": None},
    ]
    jsonl(root / "yelp_academic_dataset_review.json", reviews)
    jsonl(root / "yelp_academic_dataset_business.json", business)
    return {"name": "Yelp", "adapter": "yelp", "scenario": "catering",
            "interactions": ["yelp_academic_dataset_review.json"], "items": ["yelp_academic_dataset_business.json"]}  # fmt: skip


def write_google(root: Path) -> dict:
    """Per-state files as described at https://jiachengli1995.github.io/google/index.html (review/metadata fields)."""
    reviews = [
        {"user_id": "101", "name": "Ann", "time": MS, "rating": 5, "text": "Great lobster", "pics": None, "resp": None, "gmap_id": "g1"},
        {"user_id": "102", "name": "Bob", "time": MS + 1, "rating": 4, "text": None, "pics": None, "resp": None, "gmap_id": "g1"},
        {"user_id": "103", "name": "Cy", "time": None, "rating": 4, "text": None, "gmap_id": "g1"},  # 3 missing_field:time
    ]  # fmt: skip
    meta = [{"name": "Red's Eats", "address": "Wiscasset, ME", "gmap_id": "g1", "description": "Lobster rolls",
             "latitude": 44.0, "longitude": -69.6, "category": ["Seafood restaurant"], "avg_rating": 4.5,
             "num_of_reviews": 900, "price": "$$", "hours": None, "MISC": {"Service options": ["Takeout"]},
             "state": "Open", "relative_results": ["g2"], "url": "https://maps"}]  # fmt: skip
    jsonl(root / "review-Maine.json.gz", reviews, gz=True)
    jsonl(root / "meta-Maine.json.gz", meta, gz=True)
    return {"name": "Maine", "adapter": "google_local", "scenario": "catering",
            "interactions": ["review-Maine.json.gz"], "items": ["meta-Maine.json.gz"]}  # fmt: skip


def write_ninerec(root: Path) -> dict:
    """A NineRec set as published: header-less files (westlake-repl/NineRec).

    ``Bili_Food_pair.csv`` follows the repository's own reader, ``get_behaviour.py``
    (``pd.read_csv(..., header=None)``, columns ``video_id, user_id, timestamp``) with the id
    style of its README (``u14500``, ``v17551``); ``Bili_Food_item.csv`` follows
    ``Baseline/*/data_utils/preprocess.py`` ``get_df`` (``header=None``, ``video_id, title,
    title_en``). Every line is good: it ingests with nothing quarantined.
    """
    (root / "Bili_Food_pair.csv").write_text("v1,u1,1600000000\nv2,u1,1600000100\nv1,u2,1600000050\nv2,u2,1600000060\n")
    (root / "Bili_Food_item.csv").write_text('v1,美食视频,"Food video, spicy"\nv2,做饭,Cooking\n', encoding="utf-8")
    return {"name": "Food", "adapter": "ninerec", "scenario": "video",
            "interactions": ["Bili_Food_pair.csv"], "items": ["Bili_Food_item.csv"]}  # fmt: skip


def write_ninerec_behaviors(root: Path) -> dict:
    """QB as published without timestamps: ``QB_behaviour.tsv`` as ``get_behaviour.py`` writes it
    (``user<TAB>v v v``) and ``preprocess.py`` ``read_behaviors`` reads it; line 3 has no items."""
    (root / "QB_behaviour.tsv").write_text("u1\tv1 v2 v1\nu2\tv2\nu3\t\n")
    (root / "QB_item.csv").write_text("v1,美食,Food\nv2,做饭,Cooking\n", encoding="utf-8")
    return {"name": "FoodSeq", "adapter": "ninerec", "scenario": "video", "options": {"language": "zh", "item_header": False},
            "interactions": ["QB_behaviour.tsv"], "items": ["QB_item.csv"], "filters": {"dedupe": "all"}}  # fmt: skip


def write_steam(root: Path) -> dict:
    """Python-literal lines as published at https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data
    (read there with ``ast.literal_eval``, per the page's own example code)."""
    pylines(root / "steam_reviews.json.gz", [
        {"username": "Chaos", "hours": 0.1, "products": 41, "product_id": "725280", "page_order": 0, "date": "2017-12-17",
         "text": "Looks like a fun game.", "early_access": False, "page": 1},
        {"username": "Ed", "user_id": "7656", "product_id": "328100", "date": "2017-12-18", "text": "ok"},
        "{'username': 'Bad', 'product_id': '1', 'date': '2017-12-18'",  # 3 malformed_literal
    ])  # fmt: skip
    pylines(root / "australian_users_items.json.gz", [
        {"user_id": "76561197970982479", "items_count": 3, "steam_id": "76561197970982479", "user_url": "http://s",
         "items": [{"item_id": "725280", "item_name": "Spinning", "playtime_forever": 6, "playtime_2weeks": 0},
                   {"item_name": "no id", "playtime_forever": 1},
                   {"item_id": "328100", "item_name": "Gunspell", "playtime_forever": 0}]},
    ])  # fmt: skip
    pylines(root / "steam_games.json.gz", [
        {"publisher": "Kotoshiro", "genres": ["Action", "Casual"], "app_name": "Lost Summoner Kitty", "title": "Lost Summoner Kitty",
         "url": "http://store", "release_date": "2018-01-04", "tags": ["Strategy"], "specs": ["Single-player"], "price": 4.99,
         "early_access": False, "id": "725280", "developer": "Kotoshiro"},
        {"app_name": "Gunspell", "genres": ["RPG"], "id": "328100", "tags": [], "specs": []},
    ])  # fmt: skip
    return {"name": "Steam", "adapter": "steam", "scenario": "game",
            "interactions": ["steam_reviews.json.gz", "australian_users_items.json.gz"], "items": ["steam_games.json.gz"]}  # fmt: skip


def write_movielens(root: Path) -> tuple[dict, dict]:
    """``u.data``/``u.item`` and ``ratings.dat``/``movies.dat`` as in the READMEs of
    https://files.grouplens.org/datasets/movielens/ml-100k-README.txt and ml-1m-README.txt."""
    ml100k, ml1m = root / "ml-100k", root / "ml-1m"
    ml100k.mkdir()
    ml1m.mkdir()
    (ml100k / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t881250950\n22\t377\n")
    flags = "|".join(["0"] * 19)
    comedy = "|".join(["0"] * 5 + ["1"] + ["0"] * 13)
    (ml100k / "u.item").write_bytes(
        f"242|Kolya (1996)|24-Jan-1997||http://imdb|{comedy}\n302|L.A. Confidential (1997)|01-Jan-1997||http://x|{flags}\n".encode("latin-1")
        + "377|Café Flore (1994)|01-Jan-1994||x|".encode("latin-1") + flags.encode() + b"\n"
    )
    (ml1m / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::x::978300760\n")
    (ml1m / "movies.dat").write_bytes("1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Amélie (2001)::Comedy|Romance\n".encode("latin-1"))
    return (
        {"name": "ML100K", "adapter": "movielens", "scenario": "video", "interactions": ["ml-100k/u.data"], "items": ["ml-100k/u.item"]},
        {"name": "ML1M", "adapter": "movielens", "scenario": "video", "interactions": ["ml-1m/ratings.dat"], "items": ["ml-1m/movies.dat"]},
    )


def write_recbole(root: Path) -> dict:
    """Atomic files as specified by RecBole (https://recbole.io/atomic_files.html; RUCAIBox/RecSysDatasets)."""
    (root / "ml.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4.0\t881250949.0\n2\t10\t5\t881250950\n3\t11\t3\n"
    )
    (root / "ml.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n10\tToy Story\t1995\tAnimation Comedy\n")
    return {"name": "RecBole", "adapter": "recbole", "interactions": ["ml.inter"], "items": ["ml.item"]}


def write_generic(root: Path) -> dict:
    """No published format: a user's own TSV and Parquet files."""
    (root / "events.tsv").write_text("uid\tiid\twhen\n1\ta\t2021-01-02\n2\ta\t2021-01-03\n2\tb\tnot a date\n")
    table = pa.table({"iid": ["a", "b"], "name": ["Alpha", "Beta"], "tags": [["x", "y"], []]})
    pq.write_table(table, root / "things.parquet")
    return {"name": "Generic", "adapter": "generic", "interactions": ["events.tsv"], "items": ["things.parquet"],
            "options": {"user_column": "uid", "item_column": "iid", "time_column": "when", "time_unit": "%Y-%m-%d",
                        "rating_column": "", "item_id_column": "iid", "title_column": "name"}}  # fmt: skip


def write_all(root: Path) -> list[dict]:
    """Every fixture above into ``root``; the list of their ``ingest.sources`` entries."""
    root.mkdir(parents=True, exist_ok=True)
    ml100k, ml1m = write_movielens(root)
    return [
        write_amazon2023(root), write_amazon2023_csv(root), write_amazon2018(root), write_goodreads(root), write_yelp(root),
        write_google(root), write_ninerec(root), write_ninerec_behaviors(root), write_steam(root), ml100k, ml1m,
        write_recbole(root), write_generic(root),
    ]  # fmt: skip


@pytest.fixture
def raw_root(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder
