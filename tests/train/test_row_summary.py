"""The driver's summary of a training input, folded file by file, equals the whole input's; a bad file is one line."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.data.schema import PAIRS
from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.train.row_summary import RowSummary, merge, smallest_texts, summarize
from gre_ray.train.rows import domain_counts, split_corpus, split_pairs
from gre_ray.wiring.train_rows import summarize_rows
from tests.train.data import planted_pairs


def _files(table: pa.Table, folder, cuts: list[int]) -> Location:
    folder.mkdir()
    for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, table.num_rows])):
        pq.write_table(table.slice(a, b - a), folder / f"part-{i:05d}.parquet")
    return Location.of(folder)


def test_summary_of_the_whole_table_is_what_the_driver_computed_before():
    table = planted_pairs(domains=["outdoor", "kitchen"])
    got = summarize(table, "pairs", 0.2, 3, hard_negatives=2, limit=5, source="pairs")
    split = split_pairs(table, 0.2, 3, 2)
    assert got.rows == table.num_rows and got.n_train == int(split.train.sum())
    assert got.train_counts == domain_counts(table, split.train) and got.dropped == split.dropped
    assert got.heldout.equals(table.filter(pa.array(split.heldout)).slice(0, 5))
    assert got.domains == ["kitchen", "outdoor"] and got.texts == []


@pytest.mark.parametrize("cuts", [[1], [7, 8, 30], [10, 20, 30, 40]])
def test_merging_files_in_order_equals_the_files_joined(cuts):
    table = planted_pairs(domains=["outdoor", "kitchen"])
    whole = summarize(table, "pairs", 0.3, 0, hard_negatives=1, limit=6, text_limit=9)
    acc = RowSummary()
    for a, b in zip([0, *cuts], [*cuts, table.num_rows]):
        part = summarize(table.slice(a, b - a), "pairs", 0.3, 0, hard_negatives=1, limit=6, text_limit=9)
        acc = merge(acc, part, limit=6, text_limit=9)
    assert (acc.rows, acc.train_counts, acc.dropped, acc.domains) == (whole.rows, whole.train_counts, whole.dropped,
                                                                       whole.domains)
    assert acc.heldout.equals(whole.heldout) and acc.heldout.num_rows == 6
    assert acc.texts == whole.texts and len(acc.texts) == 9


def test_text_sample_is_every_text_when_few_and_a_layout_free_sample_when_many():
    texts = [f"text {i % 40}" for i in range(100)]
    assert smallest_texts(texts, 1000) == sorted(set(texts))  # all distinct texts, sorted
    picked = smallest_texts(texts, 10)
    assert len(picked) == 10 and picked == sorted(picked) and set(picked) < set(texts)
    assert smallest_texts(list(reversed(texts)), 10) == picked  # whatever the order the texts come in
    assert smallest_texts(texts, 0) == []


def test_corpus_summary_counts_empty_texts_as_dropped():
    table = pa.table({"domain": ["a"] * 6 + ["b"] * 4, "item_id": [f"i{i}" for i in range(10)],
                      "text": ["x", " ", "y", "z", "", "w", "v", "u", "t", "s"]})
    got = summarize(table, "corpus", 0.25, 1, limit=100)
    split = split_corpus(table, 0.25, 1)
    assert got.dropped == {"empty text": 2} and got.train_counts == domain_counts(table, split.train)
    assert got.heldout.num_rows == int(split.heldout.sum())
    assert got.rows == 10 and got.n_train + got.heldout.num_rows + 2 == 10


def test_ray_summary_of_a_folder_equals_the_plain_one(tmp_path, ray_session):
    table = planted_pairs(domains=["outdoor", "kitchen"])
    source = _files(table, tmp_path / "pairs", [5, 17, 40])
    got = summarize_rows(source, PAIRS, "pairs", 0.3, 0, hard_negatives=1, limit=4, text_limit=11)
    want = summarize(table, "pairs", 0.3, 0, hard_negatives=1, limit=4, text_limit=11)
    assert (got.rows, got.train_counts, got.dropped, got.domains, got.texts) == (
        want.rows, want.train_counts, want.dropped, want.domains, want.texts)
    assert got.heldout.equals(want.heldout)


def test_a_pair_without_text_names_its_file_and_row(tmp_path, ray_session):
    table = planted_pairs(domains=["outdoor"])
    texts = table.column("text_b").to_pylist()
    texts[22] = "  "
    broken = table.set_column(table.schema.get_field_index("text_b"), "text_b", pa.array(texts))
    source = _files(broken, tmp_path / "pairs", [20])
    with pytest.raises(DataError, match=r"part-00001\.parquet: 1 pair\(s\) have no text_b \(e\.g\. row 2, item"):
        summarize_rows(source, PAIRS, "pairs", 0.3, 0, limit=4)
    with pytest.raises(DataError, match=r"does not exist"):
        summarize_rows(Location.of(tmp_path / "nowhere"), PAIRS, "pairs", 0.3, 0, limit=4)
