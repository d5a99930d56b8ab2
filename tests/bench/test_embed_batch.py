"""One embedding job for every dataset an encoder misses (gre_ray.stages.bench_embed_batch): the same
vectors under the same cache keys as one job per dataset (``embed_items``), and the same checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gre_ray.data.storage import Location, read_json
from gre_ray.embed.cache import cached_entry
from gre_ray.embed.config import EmbedConfig, EncoderConfig
from gre_ray.embed.vectors import read_embeddings
from gre_ray.errors import DataError
from gre_ray.stages.bench_embed_batch import SEP, embed_datasets, union_items
from gre_ray.wiring.embed_pipeline import embed_items
from tests.embed.conftest import items_table, mixed_texts


def _datasets() -> dict[str, pa.Table]:
    """Two datasets whose item ids overlap (it0000...) but whose texts differ."""
    return {"kitchen": items_table(mixed_texts(23, seed=1)), "footwear": items_table(mixed_texts(17, seed=2))}


def _by_id(loc: Location) -> tuple[list[str], np.ndarray]:
    ids, matrix = read_embeddings(loc)
    order = np.argsort(ids)
    return list(ids[order]), matrix[order]


def test_union_prefixes_ids_by_dataset_position():
    table = union_items(_datasets())
    ids = table.column("item_id").to_pylist()
    assert table.num_rows == 40 and len(set(ids)) == 40
    assert ids[0] == f"0{SEP}it0000" and ids[23] == f"1{SEP}it0000"
    assert table.column("text").to_pylist()[23] == _datasets()["footwear"].column("text")[0].as_py()


def test_one_job_equals_one_job_per_dataset(ray_session, tiny_bert_path, tmp_path):
    rows = _datasets()
    encoder, settings = EncoderConfig(model=tiny_bert_path), EmbedConfig(actors=2, rows_per_call=16)
    started = []
    batched = embed_datasets(rows, encoder, Location.of(str(tmp_path / "batched")), settings,
                             lambda: started.append(1))
    assert started == [1]
    for dataset, table in rows.items():
        plain = embed_items(table, encoder, Location.of(str(tmp_path / "plain")), settings)
        assert batched[dataset].parent.name == plain.parent.name  # the same cache key
        ids_b, vectors_b = _by_id(batched[dataset])
        ids_p, vectors_p = _by_id(plain)
        assert ids_b == ids_p == sorted(table.column("item_id").to_pylist())
        np.testing.assert_allclose(vectors_b, vectors_p, atol=1e-5)
        manifest = read_json(batched[dataset].parent / "manifest.json")
        assert manifest["dataset"] == dataset and manifest["job"]["datasets"] == 2 and manifest["job"]["rows"] == 40
        # the plain path finds the entry the batched one wrote
        assert cached_entry(table, encoder, Location.of(str(tmp_path / "batched"))) == batched[dataset]
    again = embed_datasets(rows, encoder, Location.of(str(tmp_path / "batched")), settings,
                           lambda: pytest.fail("cached vectors computed again"))
    assert again == batched


def test_a_repeated_id_names_its_dataset_before_any_work(tiny_bert_path, tmp_path):
    rows = _datasets()
    table = rows["footwear"]
    rows["footwear"] = pa.concat_tables([table, table.slice(0, 1)])
    with pytest.raises(DataError, match="items of footwear"):
        embed_datasets(rows, EncoderConfig(model=tiny_bert_path), Location.of(str(tmp_path)), EmbedConfig(),
                       lambda: pytest.fail("Ray started for bad input"))
    assert not list(tmp_path.iterdir())
