"""The zero-training tier: cosine of the user's last item against every item, full ranking with
the history masked, on hand-computed vectors; stored once, then read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.store import ResultsStore
from gre_ray.bench.trials import DatasetInputs
from gre_ray.bench.zero_shot import last_item_ranks, zero_shot_table
from gre_ray.recsys import SplitConfig, make_split, save_split
from gre_ray.recsys.text_vectors import align_text_vectors

ROWS = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4), ("u2", "b", 1), ("u2", "c", 2), ("u2", "e", 3)]
VECTORS = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "d": [1.0, 0.9], "e": [-1.0, 0.0]}


def _split():
    frame = pd.DataFrame(ROWS, columns=["user_id", "item_id", "timestamp"]).assign(domain="toy", rating=5.0)
    return make_split(frame, SplitConfig(kind="retrieval"), dataset="toy")


def test_last_item_cosine_ranks_match_the_hand_computed_ones():
    """u1: last item c, candidates d, e (a, b, c masked): target d first. u2: last item c,
    candidates a, d, e (b, c masked): cos 0.71, 0.999, -0.71, so target e is third."""
    split = _split()
    ids = np.array(list(VECTORS), dtype=object)
    text = align_text_vectors(ids, np.array(list(VECTORS.values()), np.float32), split.item_ids, source="test")
    ranks = last_item_ranks(split, text)
    users = list(split.sequences.user_ids)
    assert ranks[users.index("u1")] == 0 and ranks[users.index("u2")] == 2


def test_the_tier_is_stored_once_and_read_back(tmp_path):
    split = _split()
    save_split(split, str(tmp_path / "split"))
    pq.write_table(_table(), str(tmp_path / "emb.parquet"))
    data = [DatasetInputs("toy", "e-commerce", {"retrieval": str(tmp_path / "split")},
                          {"hand": str(tmp_path / "emb.parquet")}, split_fingerprints={"retrieval": split.fingerprint},
                          split_kinds={"retrieval": "retrieval"}, embedding_fingerprints={"hand": "h1"})]
    store = ResultsStore(str(tmp_path / "store"))
    first = zero_shot_table(BenchmarkConfig(), data, store)
    values = dict(zip(first["metric"], first["value"]))
    assert values["ndcg@10"] == pytest.approx((1.0 + 1.0 / np.log2(4)) / 2) and values["recall@10"] == 1.0
    assert set(first["protocol"]) == {"full"} and first["history_masked"].all() and set(first["n_users"]) == {2}
    second = zero_shot_table(BenchmarkConfig(), data, store)
    assert len(store.parts("zero_shot")) == 1
    pd.testing.assert_frame_equal(first[["metric", "value"]], second[["metric", "value"]])


def _table():
    import pyarrow as pa

    flat = pa.array(np.array(list(VECTORS.values()), np.float32).reshape(-1), pa.float32())
    return pa.table({"item_id": pa.array(list(VECTORS), pa.string()),
                     "embedding": pa.FixedSizeListArray.from_arrays(flat, 2)})
