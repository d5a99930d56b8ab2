"""Splits: leave-one-out, implicit and explicit ranking samples, drops, leakage, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gre_ray.errors import ConfigError, DataError
from gre_ray.recsys import SplitConfig, Stage, load_split, make_split, save_split
from gre_ray.recsys.batches import RetrievalBatches, ranking_batch


def frame(rows):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    df["domain"] = "toy"
    df["timestamp"] = df["timestamp"].astype("int64")
    return df


TOY = frame(
    [
        ("u1", "c", 30, 5.0),
        ("u1", "a", 10, 4.0),
        ("u1", "b", 20, 1.0),
        ("u1", "d", 20, 5.0),  # b, d tie at 20
        ("u2", "a", 5, 2.0),
        ("u2", "e", 6, 5.0),  # too short for leave-one-out
        ("u3", "e", 1, 5.0),
        ("u3", "b", 2, 1.0),
        ("u3", "a", 3, 4.0),
    ]
)


def test_leave_one_out_orders_by_time_and_breaks_ties_by_row_order():
    split = make_split(TOY, SplitConfig(kind="retrieval"), dataset="toy")
    assert split.stats["users_dropped"] == 1 and split.stats["interactions_dropped"] == 2
    assert list(split.sequences.user_ids) == ["u1", "u3"]
    ids = {i + 1: item for i, item in enumerate(split.item_ids)}
    assert list(split.item_ids) == ["a", "b", "c", "d", "e"]  # dense ids follow sorted string ids
    u1 = [ids[i] for i in split.sequences.items[: split.sequences.indptr[1]]]
    assert u1 == ["a", "b", "d", "c"]  # b before d: same timestamp, earlier row
    assert [ids[i] for i in split.retrieval_targets(Stage.VALID)] == ["d", "b"]
    assert [ids[i] for i in split.retrieval_targets(Stage.TEST)] == ["c", "a"]
    seq, targets, mask_indptr, mask_items = RetrievalBatches(split).evaluation(Stage.TEST)
    assert [ids[i] for i in mask_items[mask_indptr[0] : mask_indptr[1]]] == [
        "a",
        "b",
        "d",
    ]  # validation item masked
    assert [ids.get(i, "-") for i in seq[0, -3:]] == ["a", "b", "d"] and seq[0, 0] == 0  # left-padded


def test_history_is_capped_at_max_len(retrieval_split, synthetic):
    split = make_split(synthetic.interactions, SplitConfig(kind="retrieval", max_len=4))
    batches = RetrievalBatches(split)
    seq, _, mask_indptr, _ = batches.evaluation(Stage.VALID)
    assert seq.shape[1] == 4
    assert (np.diff(mask_indptr) > 4).any()  # masking still uses the whole history
    batch = next(batches.train(8, 2, np.random.default_rng(0)))
    assert batch["seq"].shape == (8, 4) and batch["neg"].shape == (8, 4, 2)


@pytest.mark.parametrize("kind", ["retrieval", "ranking_implicit", "ranking_explicit"])
def test_no_time_leakage(synthetic, kind):
    split = make_split(synthetic.interactions, SplitConfig(kind=kind))
    seq = split.sequences
    if kind == "retrieval":
        starts, ends = split.retrieval_window(Stage.TRAIN)
        last_train = seq.timestamps[ends - 1]
        assert (seq.timestamps[ends] >= last_train).all() and (seq.timestamps[ends + 1] >= last_train).all()
        return
    train, test = split.samples[Stage.TRAIN], split.samples[Stage.TEST]
    latest_train = np.full(split.n_users, np.iinfo(np.int64).min)
    np.maximum.at(latest_train, train.user, seq.timestamps[train.hist_end])
    assert (seq.timestamps[test.hist_end] >= latest_train[test.user]).all()
    assert (test.hist_end >= seq.indptr[test.user]).all()  # the history never reaches into another user
    batch = ranking_batch(split, test, np.arange(len(test)))
    has_history = test.hist_end > seq.indptr[test.user]
    np.testing.assert_array_equal(batch["hist"][has_history, -1], seq.items[test.hist_end[has_history] - 1])
    assert (batch["hist"][~has_history] == 0).all()  # the target itself is never in its history


def test_implicit_negatives_are_unseen_seeded_and_counted(synthetic):
    config = SplitConfig(kind="ranking_implicit", n_negatives=3, seed=7)
    split = make_split(synthetic.interactions, config)
    seq = split.sequences
    for stage in Stage:
        s = split.samples[stage]
        neg = s.label == 0
        assert neg.sum() == 3 * (s.label == 1).sum()
        for u, item in zip(s.user[neg], s.item[neg], strict=True):
            assert item not in seq.items[seq.indptr[u] : seq.indptr[u + 1]]
    assert len(split.samples[Stage.TEST]) == 4 * split.n_users
    again = make_split(synthetic.interactions, config)
    other = make_split(synthetic.interactions, SplitConfig(kind="ranking_implicit", n_negatives=3, seed=8))
    assert again.fingerprint == split.fingerprint != other.fingerprint
    unique_times = synthetic.interactions.assign(
        timestamp=np.arange(len(synthetic.interactions), dtype=np.int64)
    )
    shuffled = unique_times.sample(frac=1.0, random_state=1)  # row order must not matter without ties
    assert make_split(shuffled, config).fingerprint == make_split(unique_times, config).fingerprint


def test_explicit_split_labels_from_ratings_by_fraction():
    rows = [("u", f"i{k}", k, float(1 + k % 5)) for k in range(20)]
    split = make_split(frame(rows), SplitConfig(kind="ranking_explicit", valid_frac=0.1, test_frac=0.2))
    sizes = {stage: len(split.samples[stage]) for stage in Stage}
    assert sizes == {Stage.TRAIN: 14, Stage.VALID: 2, Stage.TEST: 4}
    test = split.samples[Stage.TEST]
    ratings = split.sequences.ratings[test.hist_end]
    assert (test.label == (ratings >= 4.0)).all()


def test_bad_input_is_a_clear_data_error(synthetic):
    with pytest.raises(DataError, match="toy.*lack column.*timestamp"):
        make_split(TOY.drop(columns=["timestamp"]), SplitConfig(), dataset="toy")
    with pytest.raises(DataError, match="toy: no user has the 3 interactions"):
        make_split(TOY[TOY.user_id == "u2"], SplitConfig(), dataset="toy")
    unlabelled = TOY.assign(rating=np.nan)
    with pytest.raises(DataError, match="neither a rating nor a label"):
        make_split(unlabelled, SplitConfig(kind="ranking_explicit"), dataset="toy")
    all_good = TOY.assign(rating=5.0)
    with pytest.raises(DataError, match="toy: the train stage .* AUC is undefined"):
        make_split(all_good, SplitConfig(kind="ranking_explicit"), dataset="toy")
    with pytest.raises(ConfigError, match="valid_frac"):
        SplitConfig(valid_frac=0.4, test_frac=0.4)


def test_save_and_load_round_trip(tmp_path, synthetic):
    for kind in ("retrieval", "ranking_implicit"):
        split = make_split(synthetic.interactions, SplitConfig(kind=kind, max_len=10), dataset="syn")
        save_split(split, tmp_path / kind)
        loaded = load_split(tmp_path / kind)
        assert loaded.fingerprint == split.fingerprint and loaded.config == split.config
        assert loaded.stats == split.stats and list(loaded.item_ids) == list(split.item_ids)
        for stage in split.samples:
            np.testing.assert_array_equal(loaded.samples[stage].item, split.samples[stage].item)
    import pyarrow.parquet as pq

    path = tmp_path / "retrieval" / "sequences.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)
    with pytest.raises(DataError, match="fingerprint"):
        load_split(tmp_path / "retrieval")
    with pytest.raises(DataError, match="not a saved split"):
        load_split(tmp_path / "nowhere")


def test_catalogue_items_without_interactions_are_candidates():
    split = make_split(TOY, SplitConfig(kind="retrieval"), dataset="toy", catalogue=["zz", "a", "b0"])
    assert list(split.item_ids) == ["a", "b", "b0", "c", "d", "e", "zz"]
    ids = {item: i + 1 for i, item in enumerate(split.item_ids)}
    assert [split.item_ids[i - 1] for i in split.retrieval_targets(Stage.TEST)] == ["c", "a"]
    assert ids["zz"] == split.n_items  # ranked against, never interacted with
