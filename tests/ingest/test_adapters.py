"""Every adapter on its published format, with bad rows, through the single-process ingest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.ingest.conftest import (
    MS, S, write_amazon2018, write_amazon2023, write_amazon2023_csv, write_generic, write_goodreads, write_google,
    write_movielens, write_ninerec, write_ninerec_behaviors, write_recbole, write_steam, write_yelp,
)  # fmt: skip
from gre_ray.config.loader import build
from gre_ray.errors import ConfigError, DataError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.local import ingest_locally
from gre_ray.ingest.tokens import resolve_tokenizer, token_counter


def ingest(root: Path, sources: list[dict], **settings) -> tuple[dict, dict]:
    """Ingest ``sources`` from ``root``; (stats by dataset, artifact name → rows as dicts)."""
    config = build(IngestConfig, {"data_root": str(root), "sources": sources, "token_tokenizer": "", **settings})
    out = root.parent / "out"
    results = ingest_locally(config, str(out))
    tables = {a: pq.read_table(out / a).to_pylist() for a in ("items", "interactions", "id_maps", "quarantine")}
    return {name: r.stats for name, r in results.items()}, tables


def quarantined(tables: dict) -> list[tuple[str, int, str]]:
    return sorted((q["file"], q["line"], q["reason"]) for q in tables["quarantine"])


def pairs(tables: dict) -> list[tuple[str, str, int, float | None]]:
    return [(r["user_id"], r["item_id"], r["timestamp"], r["rating"]) for r in tables["interactions"]]


def test_amazon2023_reviews_and_metadata(raw_root):
    stats, tables = ingest(raw_root, [write_amazon2023(raw_root)])
    assert quarantined(tables) == [
        ("Arts.jsonl", 3, "malformed_json"),
        ("Arts.jsonl", 4, "missing_field:user_id"),
        ("Arts.jsonl", 5, "wrong_type:rating"),
        ("Arts.jsonl", 6, "timestamp_out_of_range"),
        ("Arts.jsonl", 8, "item_without_metadata"),
        ("Arts.jsonl", 10, "invalid_utf8"),
        ("Arts.jsonl", 12, "not_an_object"),
        ("meta_Arts.jsonl.gz", 4, "duplicate_item_conflict"),
        ("meta_Arts.jsonl.gz", 5, "empty_text"),
        ("meta_Arts.jsonl.gz", 6, "missing_field:parent_asin"),
    ]
    # timestamps in ms become seconds; the later repeat of (U1, P1) on line 11 is dropped
    assert pairs(tables) == [("U1", "P1", S, 5.0), ("U1", "P2", S + 1, 5.0), ("U2", "P2", S + 2, 5.0)]
    texts = {r["item_id"]: (r["title"], r["text"]) for r in tables["items"]}
    assert texts == {
        "P1": ("Tent & Shelter", "Title: Tent & Shelter\nFeatures: Waterproof, Light\nDescription: See or mail."),
        "P2": ("Stove", "Title: Stove\nDescription: Boils fast. Simmer control"),
    }
    raw = json.loads(next(r["raw_json"] for r in tables["items"] if r["item_id"] == "P1"))
    assert raw["details"] == {"Brand": "Acme"} and "images" not in raw
    rows = stats["Arts"]["rows"]
    assert rows["interactions"]["records_read"] == 11 and rows["interactions"]["blank_lines"] == 1
    assert rows["interactions"]["filtered"] == {"duplicate_pair": 1, "kcore": 0}
    assert rows["items"]["filtered"] == {"duplicate_item": 1, "no_interactions": 1}
    for account in rows.values():  # every record read is kept, filtered or quarantined
        at_parse = sum(n for r, n in account["quarantined"].items() if r not in ("item_without_metadata", "duplicate_item_conflict"))
        assert account["records_read"] == account["parsed"] + at_parse
        assert account["parsed"] == account["kept"] + sum(account["filtered"].values()) + account["quarantined"].get(
            "item_without_metadata", 0) + account["quarantined"].get("duplicate_item_conflict", 0)  # fmt: skip
    assert stats["Arts"]["table1"] == {"users": 2, "items": 2, "interactions": 3, "density": 0.75}


def test_token_statistics_count_the_kept_item_texts(raw_root):
    stats, tables = ingest(raw_root, [write_amazon2023(raw_root)], token_tokenizer="all-MiniLM-L6-v2")
    count = token_counter(resolve_tokenizer("all-MiniLM-L6-v2"))
    expected = count([r["text"] for r in tables["items"]])
    table1 = stats["Arts"]["table1"]
    assert table1["tokens_total"] == sum(expected) and table1["tokens_mean"] == sum(expected) / 2


def test_amazon2023_rating_csv_gz_and_amazon2018(raw_root):
    _, tables = ingest(raw_root, [write_amazon2023_csv(raw_root), write_amazon2018(raw_root)])
    assert quarantined(tables) == [
        ("Arts_2018.json.gz", 3, "wrong_type:unixReviewTime"),
        ("Arts_core.csv.gz", 4, "wrong_column_count"),  # the header is line 1
    ]
    by_domain = {}
    for r in tables["interactions"]:
        by_domain.setdefault(r["domain"], []).append((r["user_id"], r["item_id"], r["timestamp"]))
    assert by_domain["ArtsCore"] == [("U1", "P1", S), ("U2", "P1", S), ("U3", "P2", S)]
    assert by_domain["Arts2018"] == [("A1", "0001", 1252800000), ("A2", "0001", 1262390400)]  # "01 02, 2010" in UTC
    glue = next(r for r in tables["items"] if r["item_id"] == "0001")
    assert glue["text"] == "Title: Glue\nBrand: Elmer\nFeature: Strong\nDescription: Sticks.\nCategory: Arts, Glue"


def test_goodreads_truncated_gzip_and_unrated_shelves(raw_root):
    stats, tables = ingest(raw_root, [write_goodreads(raw_root)])
    reasons = quarantined(tables)
    assert ("goodreads_interactions_poetry.json.gz", 3, "bad_timestamp:date_added") in reasons
    truncated = [q for q in reasons if q[2] == "truncated_gzip"]
    assert len(truncated) == 1 and truncated[0][1] == 4  # the cut falls inside line 4
    assert stats["Goodreads"]["damaged_files"] == [
        {"file": "goodreads_interactions_poetry.json.gz", "line": 4, "reason": "truncated_gzip"}
    ]
    assert pairs(tables) == [("u1", "b1", 1508269718, 5.0), ("u1", "b2", 1508353200, None)]  # rating 0: not rated
    labels = [r["label"] for r in tables["interactions"]]
    assert labels == [None, 1]  # explicit rows get no label without a threshold; implicit rows are positives
    texts = {r["item_id"]: r["text"] for r in tables["items"]}
    assert texts == {"b1": "Title: Leaves of Grass\nDescription: Poems. Classic.", "b2": "Description: Plath."}
    assert {r["item_id"]: r["title"] for r in tables["items"]}["b2"] == "Ariel"


def test_yelp_and_google_local(raw_root):
    _, tables = ingest(raw_root, [write_yelp(raw_root), write_google(raw_root)], text={"labels": False, "field_separator": ". "})
    assert quarantined(tables) == [
        ("review-Maine.json.gz", 3, "missing_field:time"),
        ("yelp_academic_dataset_review.json", 3, "bad_timestamp:date"),
    ]
    texts = {r["item_id"]: r["text"] for r in tables["items"]}
    assert texts == {"B1": "Pho 99. Vietnamese, Soup, Restaurants. Tucson. AZ", "B2": "Café Ünique. Reno. NV",
                     "g1": "Red's Eats. Seafood restaurant. Lobster rolls"}  # fmt: skip
    assert ("y1", "B1", 1531001351, 4.0) in pairs(tables)  # 2018-07-07 22:09:11 UTC


def test_amazon2023_rating_csv_releases_with_and_without_header(raw_root):
    source = write_amazon2023_csv(raw_root)
    with_header, _ = ingest(raw_root, [source])
    body = gzip.decompress((raw_root / "Arts_core.csv.gz").read_bytes()).split(b"\n", 1)[1]
    (raw_root / "Arts_core.csv.gz").write_bytes(gzip.compress(body))  # the release before the column head was added
    without, tables = ingest(raw_root, [source])
    assert without["ArtsCore"]["releases"]["Arts_core.csv.gz"] == "rating-only CSV without header (release before 2024-02-25)"
    assert with_header["ArtsCore"]["releases"]["Arts_core.csv.gz"] == "rating-only CSV with header"
    assert without["ArtsCore"]["table1"] == with_header["ArtsCore"]["table1"]
    assert quarantined(tables) == [("Arts_core.csv.gz", 3, "wrong_column_count")]
    (raw_root / "Arts_core.csv.gz").write_bytes(gzip.compress(b'{"user_id": "U1"}\n'))  # reviews under a ratings name
    with pytest.raises(DataError, match=r"Arts_core.csv.gz: unexpected release format: expected rating-only CSV user_id,parent_asin,rating,timestamp, found"):
        ingest(raw_root, [source])


def test_ninerec_pairs_behaviors_and_languages(raw_root):
    stats, tables = ingest(raw_root, [write_ninerec(raw_root), write_ninerec_behaviors(raw_root)])
    assert quarantined(tables) == [("QB_behaviour.tsv", 3, "missing_field:item_sequence")]  # the pair fixture: none
    assert stats["Food"]["rows"]["interactions"]["records_read"] == 4
    food = sorted((r["user_id"], r["item_id"], r["timestamp"]) for r in tables["interactions"] if r["domain"] == "Food")
    assert food == [("u1", "v1", 1600000000), ("u1", "v2", 1600000100), ("u2", "v1", 1600000050), ("u2", "v2", 1600000060)]
    assert stats["Food"]["releases"]["Bili_Food_pair.csv"].startswith("header-less pair file, columns item_id,user_id,timestamp")
    texts = {(r["domain"], r["item_id"]): r["text"] for r in tables["items"]}
    assert texts[("Food", "v1")] == "Title: Food video, spicy"
    assert texts[("FoodSeq", "v1")] == "Title: 美食"
    seq = [(r["user_id"], r["item_id"], r["timestamp"]) for r in tables["interactions"] if r["domain"] == "FoodSeq"]
    assert seq == [("u1", "v1", 0), ("u1", "v2", 1), ("u1", "v1", 2), ("u2", "v2", 0)]  # positions; dedupe: all


def test_ninerec_column_order_from_the_ids_or_a_setting(raw_root):
    (raw_root / "Dance_pair.csv").write_text("u7,v3,1600000000\nu8,v3,1600000001\n")  # the README's order
    (raw_root / "Dance_item.csv").write_text("v3,舞蹈,Dance,extra\n", encoding="utf-8")
    source = {"name": "Dance", "adapter": "ninerec", "interactions": ["Dance_pair.csv"], "items": ["Dance_item.csv"]}
    stats, tables = ingest(raw_root, [source])
    assert quarantined(tables) == []
    assert sorted(pairs(tables)) == [("u7", "v3", 1600000000, None), ("u8", "v3", 1600000001, None)]
    assert json.loads(tables["items"][0]["raw_json"])["extra_4"] == "extra"
    (raw_root / "Dance_pair.csv").write_text("7,3,1600000000\n8,3,1600000001\n")  # numeric ids: the order needs a setting
    (raw_root / "Dance_item.csv").write_text("3,舞蹈,Dance\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"Dance_pair.csv: unexpected release format: expected ids like u14500"):
        ingest(raw_root, [source])
    _, tables = ingest(raw_root, [{**source, "options": {"pair_columns": "user_id,video_id,timestamp"}}])
    assert sorted(pairs(tables)) == [("7", "3", 1600000000, None), ("8", "3", 1600000001, None)]


def test_ninerec_pair_file_without_timestamps_names_the_behaviour_file(raw_root):
    (raw_root / "TN_pair.csv").write_text("v1,u1\n")
    (raw_root / "TN_item.csv").write_text("v1,新闻,News\n", encoding="utf-8")
    source = {"name": "TN", "adapter": "ninerec", "interactions": ["TN_pair.csv"], "items": ["TN_item.csv"]}
    with pytest.raises(DataError, match=r"TN_pair.csv: unexpected release format: expected 3 columns .*behaviour.tsv instead, found 'v1,u1'"):
        ingest(raw_root, [source])


def test_steam_python_literals_and_per_user_lists(raw_root):
    stats, tables = ingest(raw_root, [write_steam(raw_root)])
    assert quarantined(tables) == [
        ("australian_users_items.json.gz", 1, "missing_field:item_id"),  # one bad element; the user's others stay
        ("steam_reviews.json.gz", 3, "malformed_literal"),
    ]
    assert sorted(pairs(tables)) == sorted([
        ("76561197970982479", "725280", 0, None), ("76561197970982479", "328100", 0, None),
        ("Chaos", "725280", 1513468800, None), ("7656", "328100", 1513555200, None),
    ])  # fmt: skip
    kitty = next(r for r in tables["items"] if r["item_id"] == "725280")
    assert kitty["text"] == ("App name: Lost Summoner Kitty\nGenres: Action, Casual\nTags: Strategy\n"
                             "Specs: Single-player\nDeveloper: Kotoshiro")  # fmt: skip
    assert stats["Steam"]["rows"]["interactions"]["records_read"] == 4


def test_movielens_100k_and_1m_latin1(raw_root):
    ml100k, ml1m = write_movielens(raw_root)
    _, tables = ingest(raw_root, [ml100k, ml1m])
    assert quarantined(tables) == [("ml-100k/u.data", 4, "wrong_column_count"), ("ml-1m/ratings.dat", 3, "wrong_type:rating")]
    texts = {(r["domain"], r["item_id"]): r["text"] for r in tables["items"]}
    assert texts[("ML100K", "242")] == "Title: Kolya (1996)\nGenres: Comedy"
    assert texts[("ML1M", "661")] == "Title: Amélie (2001)\nGenres: Comedy, Romance"
    assert ("ML100K", "377") not in texts  # Café Flore has no kept interaction


def test_recbole_and_generic_with_parquet_items(raw_root):
    _, tables = ingest(raw_root, [write_recbole(raw_root), write_generic(raw_root)])
    assert quarantined(tables) == [("events.tsv", 4, "bad_timestamp:when"), ("ml.inter", 4, "wrong_column_count")]
    texts = {(r["domain"], r["item_id"]): (r["title"], r["text"]) for r in tables["items"]}
    assert texts[("RecBole", "10")] == ("Toy Story", "Movie title: Toy Story\nRelease year: 1995\nClass: Animation Comedy")
    assert texts[("Generic", "a")] == ("Alpha", "Name: Alpha\nTags: x, y")
    generic = [(r["user_id"], r["item_id"], r["timestamp"], r["label"]) for r in tables["interactions"] if r["domain"] == "Generic"]
    assert generic == [("1", "a", 1609545600, 1), ("2", "a", 1609632000, 1)]


def test_filters_thresholds_kcore_and_remapped_ids(raw_root):
    source = write_amazon2023(raw_root)
    source["filters"] = {"label_threshold": 4.0, "min_user_interactions": 2, "remap_ids": True}
    stats, tables = ingest(raw_root, [source])
    assert stats["Arts"]["rows"]["interactions"]["filtered"] == {"duplicate_pair": 1, "kcore": 1}  # U2 keeps one row
    assert [(r["user_id"], r["item_id"], r["label"]) for r in tables["interactions"]] == [("0", "0", 1), ("0", "1", 1)]
    maps = {(m["kind"], m["raw_id"]): m["dense_id"] for m in tables["id_maps"]}
    assert maps == {("user", "U1"): 0, ("item", "P1"): 0, ("item", "P2"): 1}
    assert sorted(r["item_id"] for r in tables["items"]) == ["0", "1"]


def test_keep_policies_for_missing_metadata_and_orphans(raw_root):
    source = write_amazon2023(raw_root)
    source["filters"] = {"interactions_without_item": "keep", "items_without_interactions": "keep"}
    stats, tables = ingest(raw_root, [source])
    assert ("U2", "P3", S, 5.0) in pairs(tables)
    assert stats["Arts"]["rows"]["interactions"]["kept_without_item"] == 1
    assert sorted(r["item_id"] for r in tables["items"]) == ["P1", "P2", "P9"]
    assert {(m["kind"], m["raw_id"]) for m in tables["id_maps"]} >= {("item", "P3"), ("item", "P9")}


def test_strict_mode_stops_at_the_first_bad_row(raw_root):
    with pytest.raises(DataError, match=r"Arts\.jsonl:3: malformed_json"):
        ingest(raw_root, [write_amazon2023(raw_root)], strict=True)
    conflict = raw_root / "meta_c.jsonl"
    conflict.write_text('{"parent_asin": "P1", "title": "A"}\n{"parent_asin": "P1", "title": "B"}\n')
    (raw_root / "r.jsonl").write_text(json.dumps({"user_id": "U", "parent_asin": "P1", "rating": 1, "timestamp": MS}) + "\n")
    source = {"name": "C", "adapter": "amazon2023", "interactions": ["r.jsonl"], "items": ["meta_c.jsonl"]}
    with pytest.raises(DataError, match=r"meta_c\.jsonl:2: duplicate_item_conflict"):
        ingest(raw_root, [source], strict=True)


def test_input_mistakes_are_one_clear_error(raw_root):
    source = write_yelp(raw_root)
    with pytest.raises(DataError, match="raw file nope.json not found"):
        ingest(raw_root, [{**source, "items": ["nope.json"]}])
    (raw_root / "reviews.xml").write_text("<r/>")
    with pytest.raises(DataError, match="reviews.xml: unknown format for adapter 'yelp'"):
        ingest(raw_root, [{**source, "interactions": ["reviews.xml"]}])
    with pytest.raises(ConfigError, match="has no option colour"):
        ingest(raw_root, [{**source, "options": {"colour": "red"}}])
    with pytest.raises(ConfigError, match="unknown config key filters.'min_users'"):
        ingest(raw_root, [{**source, "filters": {"min_users": 5}}])
    (raw_root / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="junk.parquet: cannot read"):
        ingest(raw_root, [{"name": "G", "adapter": "generic", "items": ["junk.parquet"]}])
