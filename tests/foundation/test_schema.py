"""The data contract: validation names file and column, casts safely, rejects duplicates."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.data.schema import INTERACTIONS, ITEMS, embedding_dim, embeddings_contract, embeddings_schema, validate_table
from gre_ray.data.storage import Location, read_table, write_table
from gre_ray.errors import DataError


def items(**overrides):
    cols = {"domain": ["d", "d"], "item_id": ["1", "2"], "text": ["a", "b"], "title": ["A", None], "raw_json": [None, None]}
    cols.update(overrides)
    return pa.table(cols)


def test_valid_table_is_cast_and_reordered():
    table = items(extra=[1, 2]).select(["text", "item_id", "domain", "title", "raw_json", "extra"])
    out = validate_table(table, ITEMS, "x.parquet")
    assert out.schema == ITEMS.schema


def test_missing_column_names_file_and_column():
    with pytest.raises(DataError, match=r"x.parquet: missing column 'text' required by the items contract"):
        validate_table(items().drop_columns(["text"]), ITEMS, "x.parquet")


def test_unsafe_type_names_column():
    table = pa.table(
        {"domain": ["d"], "user_id": ["u"], "item_id": ["i"], "timestamp": ["yesterday"], "rating": [1.0], "label": [None]}
    )
    with pytest.raises(DataError, match=r"i.parquet: column 'timestamp' has type string, expected int64"):
        validate_table(table, INTERACTIONS, "i.parquet")


def test_nulls_in_required_column_and_duplicates():
    with pytest.raises(DataError, match="column 'text' has 1 null"):
        validate_table(items(text=["a", None]), ITEMS, "x")
    with pytest.raises(DataError, match=r"duplicate value\(s\) of \(domain, item_id\), e.g. \{'domain': 'd', 'item_id': '1'\}"):
        validate_table(items(item_id=["1", "1"]), ITEMS, "x")


def test_embeddings_are_fixed_size_float32():
    vectors = pa.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], pa.list_(pa.float32(), 3))
    table = pa.table({"item_id": ["a", "b"], "embedding": vectors})
    assert embedding_dim(table.schema) == 3
    validate_table(table, embeddings_contract(3), "e")
    with pytest.raises(DataError, match="expected fixed_size_list<float32>"):
        embedding_dim(pa.table({"item_id": ["a"], "embedding": [[1.0]]}).schema, "e.parquet")
    with pytest.raises(ValueError):
        embeddings_schema(0)


def test_parquet_round_trip_and_read_errors(tmp_path):
    loc = Location.of(tmp_path / "items")
    write_table(validate_table(items(), ITEMS), loc, max_rows_per_file=1)
    assert len(loc.files()) == 2
    assert read_table(loc, ITEMS).num_rows == 2
    with pytest.raises(DataError, match="does not exist"):
        read_table(Location.of(tmp_path / "nope"))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"bad.parquet: cannot read as Parquet"):
        read_table(Location.of(bad))
    pq.write_table(pa.table({"item_id": ["a"]}), tmp_path / "wrong.parquet")
    with pytest.raises(DataError, match=r"wrong.parquet: missing column 'domain'"):
        read_table(Location.of(tmp_path / "wrong.parquet"), ITEMS)
