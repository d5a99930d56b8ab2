"""Bad input: repeated ids, missing columns, empty tables and texts that are not UTF-8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gre_ray.data.storage import Location, write_table
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.inference import EmbedBatch
from gre_ray.embed.job import raise_decode_errors
from gre_ray.embed.vectors import read_embeddings
from gre_ray.errors import DataError
from gre_ray.wiring.embed_pipeline import embed_items, embed_items_to
from tests.embed.conftest import items_table


def test_duplicate_ids_fail_before_any_work(tiny_bert_path, tmp_path):
    table = pa.table({"item_id": ["a", "b", "a"], "text": ["x", "y", "z"]})
    settings = EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path))
    with pytest.raises(DataError, match="'a'"):
        embed_items_to(table, settings, Location.of(tmp_path / "out"))
    with pytest.raises(DataError, match="'a'"):
        embed_items(table, settings.encoder, tmp_path / "cache")
    assert not (tmp_path / "out").exists() and not any(Path(tmp_path / "cache").glob("*"))


def test_items_without_text_column(tiny_bert_path, tmp_path):
    items = Location.of(tmp_path / "items")
    write_table(pa.table({"item_id": ["a"], "title": ["x"]}), items)
    with pytest.raises(DataError, match="missing column 'text'"):
        embed_items_to(items, EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)), Location.of(tmp_path / "out"))
    with pytest.raises(DataError, match="does not exist"):
        embed_items_to(Location.of(tmp_path / "missing"), EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)),
                       Location.of(tmp_path / "out"))


def test_empty_items_table_gives_an_empty_embeddings_table(tiny_bert_path, tmp_path):
    report = embed_items_to(items_table([]), EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path)),
                            Location.of(tmp_path / "out"))
    ids, matrix = read_embeddings(Location.of(tmp_path / "out"))
    assert report.rows == 0 and len(ids) == 0 and matrix.shape == (0, 32)


def test_text_that_is_not_utf8(tiny_bert_path, tmp_path):
    offsets = pa.py_buffer(np.array([0, 2, 4], dtype=np.int32).tobytes())
    texts = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"ok\xff\xfe")])
    table = pa.table({"item_id": pa.array(["good", "bad"]), "text": texts})
    settings = EmbedConfig(encoder=EncoderConfig(model=tiny_bert_path), actors=1)
    with pytest.raises(DataError, match="item 'bad' is not valid UTF-8"):  # checked in the driver
        embed_items(table, settings.encoder, tmp_path / "cache", settings)
    assert not (tmp_path / "cache").exists()

    # In the actor (items read by Ray from Parquet), the row is flagged and the pipeline raises.
    out = EmbedBatch(settings.encoder, token_budget=256, max_batch_rows=8)(table)
    assert out.column("_error").to_pylist()[0] is None and "item 'bad'" in out.column("_error")[1].as_py()
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    with pytest.raises(DataError, match="items: 1 text.*item 'bad' is not valid UTF-8"):
        raise_decode_errors(out, "items")
