"""The held-out users' signal, WiSE-FT interpolation, and that selection reads training domains only."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gre_ray.root_config import load_config
from gre_ray.data.heldout_users import drop_heldout_users, heldout_rows, heldout_users
from gre_ray.data.storage import Location
from gre_ray.runner.stage import StageContext
from gre_ray.stages.contrastive import signal_inputs
from gre_ray.train.signal import _auc, score_signal, signal_tasks
from gre_ray.train.signal_store import load_signals
from gre_ray.train.wise import choose_alpha, interpolate


def _interactions(rows: list[tuple[str, str, str, int]]) -> pa.Table:
    d, u, i, t = zip(*rows)
    return pa.table({"domain": list(d), "user_id": list(u), "item_id": list(i), "timestamp": list(t)})


def test_a_user_is_held_out_with_all_their_rows_and_the_split_is_fixed_by_the_seed():
    rows = [("a", f"u{k % 50}", f"i{k}", k) for k in range(400)]
    table = _interactions(rows)
    mask = heldout_rows(table, 0.3, seed=0)
    users = np.asarray(table.column("user_id").to_pylist())
    for user in set(users):
        assert len(set(mask[users == user])) == 1
    assert 5 <= len(set(users[mask])) <= 25  # ~30% of 50 users
    assert (heldout_rows(table.take(np.arange(400)[::-1]), 0.3, 0)[::-1] == mask).all()  # row order is irrelevant
    assert not (heldout_rows(table, 0.3, 1) == mask).all()
    kept, n_held = drop_heldout_users(table, 0.3, 0)
    assert n_held == mask.sum() and kept.num_rows == 400 - n_held
    assert not drop_heldout_users(table, 0.0, 0)[1]


def test_signal_tasks_use_exactly_the_held_out_users_last_transition():
    items = pa.table({"domain": ["a"] * 4 + ["b"], "item_id": ["i0", "i1", "i2", "i3", "j0"],
                      "text": ["t0", "t1", "t2", "t3", "s0"]})
    rows = []
    for k in range(40):
        rows += [("a", f"u{k}", "i0", 1), ("a", f"u{k}", "i2", 2), ("a", f"u{k}", "i1", 3)]
    rows += [("b", "v", "j0", 1)]
    table = _interactions(rows)
    tasks = signal_tasks(items, table, ["a"], 0.5, seed=0)
    assert [t.domain for t in tasks] == ["a"]  # domain b is not asked for
    held = set(np.asarray(table.column("user_id").to_pylist())[heldout_rows(table, 0.5, 0)])
    assert len(tasks[0].queries) == len(held - {"v"})
    assert set(tasks[0].queries) == {2} and set(tasks[0].targets) == {1}  # i2 -> i1
    assert all(list(h) == [0, 2] for h in tasks[0].history)


def test_score_signal_on_hand_made_vectors():
    items = pa.table({"domain": ["a"] * 3, "item_id": ["i0", "i1", "i2"], "text": ["x", "y", "z"]})
    table = _interactions([("a", "u", "i0", 1), ("a", "u", "i1", 2)])
    task = signal_tasks(items, table, ["a"], 0.999999, seed=0)[0]
    assert list(task.queries) == [0] and list(task.targets) == [1]
    # query i0 is nearest to the target i1: rank 0, NDCG 1; i0 and i2 orthogonal
    good = score_signal([task], [np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])])
    assert good["next_item_ndcg"] == pytest.approx(1.0) and good["next_item_recall"] == 1.0
    # target orthogonal to the query, the third item closer: rank 1, NDCG 1/log2(3)
    worse = score_signal([task], [np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5]])])
    assert worse["next_item_ndcg"] == pytest.approx(1 / np.log2(3))


def test_auc_counts_ties_as_half():
    assert _auc(np.array([0.9, 0.5]), np.array([0.5, 0.1])) == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_wise_ft_interpolates_float_weights_and_checks_them():
    base = {"w": torch.zeros(2), "ids": torch.tensor([0, 1])}
    tuned = {"w": torch.tensor([2.0, 4.0]), "ids": torch.tensor([0, 1])}
    assert torch.equal(interpolate(base, tuned, 0.25)["w"], torch.tensor([0.5, 1.0]))
    assert torch.equal(interpolate(base, tuned, 1.0)["w"], tuned["w"])
    assert torch.equal(interpolate(base, tuned, 0.5)["ids"], tuned["ids"])
    with pytest.raises(ValueError, match="alpha must be in"):
        interpolate(base, tuned, 1.5)
    with pytest.raises(ValueError, match="differing keys"):
        interpolate({"w": torch.zeros(2)}, tuned, 0.5)
    with pytest.raises(ValueError, match="shape"):
        interpolate({"w": torch.zeros(3), "ids": base["ids"]}, tuned, 0.5)


def test_choose_alpha_takes_the_best_and_on_a_tie_the_larger_alpha():
    scores = {0.25: 0.1, 0.5: 0.3, 0.75: 0.3, 1.0: 0.2}
    best, rows = choose_alpha([1.0, 0.5, 0.25, 0.75], lambda a: {"m": scores[a]}, "m")
    assert best == 0.75 and [r["alpha"] for r in rows] == [0.25, 0.5, 0.75, 1.0]


def test_selection_reads_no_benchmark_role_domain(tmp_path, ray_session):
    """Even when the pairs name a benchmark-role domain, the held-out signal never includes it."""
    root = Location.of(str(tmp_path))
    train_ids, bench_ids = "abcdefghijkl", "mnopqrstuvwx"  # 12 items each: a pool of at least K = 10
    tables = {
        "items": pa.table({"domain": ["train1"] * 12 + ["bench1"] * 12, "item_id": list(train_ids + bench_ids),
                           "text": [f"t{c}" for c in train_ids + bench_ids]}),
        "interactions": _interactions([(d, f"{d}-u{k}", it, t) for d, its in (("train1", "abc"), ("bench1", "xyz"))
                                       for k in range(30) for t, it in enumerate(its)]),
        "domains": pa.table({"domain": ["train1", "bench1"], "role": ["train", "benchmark"]}),
    }
    inputs = {}
    for name, table in tables.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        inputs[name] = Location.of(str(tmp_path / f"{name}.parquet"))
    config = load_config("configs/demo.yaml", ["pairs.heldout_users=0.5"])
    ctx = StageContext(config=config, settings=config.contrastive, output=root / "out", inputs=inputs, run_root=root)
    refs = signal_inputs(ctx, ["bench1", "train1"])
    assert [r.domain for r in refs] == ["train1"] and ctx.stats["signal_domains"] == ["train1"]
    tasks = load_signals(refs)
    assert refs[0].users == len(tasks[0].queries) > 0 and set(tasks[0].item_ids) == set(train_ids)
    assert [c.name for c in (ctx.output / "signal").children()] == ["train1"]  # nothing of bench1 is written
    off = load_config("configs/demo.yaml", ["pairs.heldout_users=0.0"])
    ctx = StageContext(config=off, settings=off.contrastive, output=root / "out", inputs=inputs, run_root=root)
    assert signal_inputs(ctx, ["train1"]) == [] and "no held-out users" in ctx.warnings[0]
