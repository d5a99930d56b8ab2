"""The held-out signal at scale: built file by file, ranked in a bounded pool, scored in chunks, kept in files.

The pool equals the catalogue when a domain has no more items than ``signal_pool``; then the
tasks and the numbers equal the earlier whole-table computation (a copy of it is the
reference below). The Ray rounds, read back from the files they write, equal the one-process
rounds; the driver keeps references only.
"""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gre_ray.data.heldout_users import heldout_users
from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError, DataError
from gre_ray.root_config import load_config
from gre_ray.runner.stage import StageContext
from gre_ray.stages.contrastive import _center_texts, signal_inputs
from gre_ray.train.row_summary import RowSummary
from gre_ray.train import signal
from gre_ray.train.config import ContrastiveConfig
from gre_ray.train.signal import score_signal, signal_tasks
from gre_ray.train.signal_store import SignalRef, center_slices, load_signals, read_signal, strided_texts, write_signal
from gre_ray.train.tasks import ContrastiveTask


def _data(seed: int = 1, sizes=(25, 60, 40), users: int = 120):
    """Random catalogues and sequences; some interactions name unknown items, some timestamps tie."""
    rng = np.random.default_rng(seed)
    items, rows = [], []
    for d, n in zip("abc", sizes):
        items += [(d, f"{d}{i:03d}", f"text of {d} {i}") for i in range(n)]
        for u in range(users):
            for _ in range(int(rng.integers(1, 8))):
                rows.append((d, f"u{u:03d}", f"{d}{int(rng.integers(0, n + 3)):03d}", int(rng.integers(0, 5))))
    item_table = pa.table(dict(zip(["domain", "item_id", "text"], map(list, zip(*items)))))
    d, u, i, t = map(list, zip(*rows))
    return item_table, pa.table({"domain": d, "user_id": u, "item_id": i, "timestamp": pa.array(t, pa.int64())})


def _reference(items: pa.Table, inter: pa.Table, domains, fraction, seed, max_users):
    """The earlier whole-table computation: every item of a domain, a Python loop over users."""
    out = []
    inter_all, items_all = inter.to_pandas(), items.to_pandas()
    for k, domain in enumerate(sorted(domains)):
        its = items_all[items_all["domain"] == domain].sort_values("item_id")
        if its.empty:
            continue
        ids = its["item_id"].tolist()
        where = {item: i for i, item in enumerate(ids)}
        rows = inter_all[inter_all["domain"] == domain]
        held = heldout_users([domain] * len(rows), rows["user_id"].tolist(), fraction, seed)
        rows = rows[held & rows["item_id"].isin(where).to_numpy()].sort_values(["user_id", "timestamp"], kind="stable")
        queries, targets, history = [], [], []
        for _, seq in rows.groupby("user_id", sort=True)["item_id"]:
            idx = [where[i] for i in seq]
            if len(idx) < 2 or idx[-1] == idx[-2]:
                continue
            queries.append(idx[-2])
            targets.append(idx[-1])
            history.append(np.asarray(sorted(set(idx[:-1]) - {idx[-1]}), dtype=np.int64))
            if len(queries) >= max_users:
                break
        rng = np.random.default_rng([seed, k])
        n = len(ids)
        q, t = np.asarray(queries, dtype=np.int64), np.asarray(targets, dtype=np.int64)
        randoms = rng.integers(n, size=len(q))
        clash = (randoms == q) | (randoms == t)
        randoms[clash] = (randoms[clash] + 1 + rng.integers(n - 1, size=int(clash.sum()))) % n
        pairs = rng.integers(n, size=(min(5000, n * (n - 1) // 2), 2))
        out.append(signal.DomainSignal(domain, ids, its["text"].tolist(), q, t, history, randoms,
                                       pairs[pairs[:, 0] != pairs[:, 1]], n))
    return out


def _same(a: signal.DomainSignal, b: signal.DomainSignal) -> None:
    assert (a.domain, a.item_ids, a.texts, a.catalogue) == (b.domain, b.item_ids, b.texts, b.catalogue)
    for name in ("queries", "targets", "randoms", "unrelated"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert len(a.history) == len(b.history) and all(np.array_equal(x, y) for x, y in zip(a.history, b.history))


@pytest.mark.parametrize("max_users", [2000, 7])
def test_a_pool_as_large_as_the_catalogue_gives_the_whole_table_numbers_exactly(max_users):
    items, inter = _data()
    new = signal_tasks(items, inter, ["c", "a", "b"], 0.3, 5, max_users, pool=60)
    old = _reference(items, inter, ["c", "a", "b"], 0.3, 5, max_users)
    assert [t.domain for t in new] == ["a", "b", "c"] and all(t.whole_catalogue for t in new)
    for a, b in zip(new, old):
        _same(a, b)
    vectors = [np.random.default_rng(3).normal(size=(len(t.item_ids), 8)) for t in new]
    assert score_signal(new, vectors) == score_signal(old, vectors)


def test_a_smaller_pool_holds_the_users_items_and_a_seeded_sample():
    items, inter = _data(sizes=(200, 300, 30), users=40)
    tasks = signal_tasks(items, inter, ["a", "b", "c"], 0.3, 5, 2000, pool=20)
    full = signal_tasks(items, inter, ["a", "b", "c"], 0.3, 5, 2000, pool=1000)
    for small, whole in zip(tasks, full):
        ends = {whole.item_ids[i] for i in np.r_[whole.queries, whole.targets]}
        assert ends <= set(small.item_ids) and set(small.item_ids) <= set(whole.item_ids)
        assert len(small.item_ids) <= 20 + len(ends) and small.catalogue == len(whole.item_ids)
        assert not small.whole_catalogue
        # the same users and transitions, re-indexed into the pool
        assert [small.item_ids[i] for i in small.queries] == [whole.item_ids[i] for i in whole.queries]
        assert [small.item_ids[i] for i in small.targets] == [whole.item_ids[i] for i in whole.targets]
    # the sample depends on the seed, not on the order of the rows
    again = signal_tasks(items.take(np.arange(items.num_rows)[::-1]), inter, ["a", "b", "c"], 0.3, 5, 2000, pool=20)
    assert [t.item_ids for t in again] == [t.item_ids for t in tasks]


def test_chunked_and_device_scoring_equal_one_block(monkeypatch):
    items, inter = _data()
    tasks = signal_tasks(items, inter, ["a", "b", "c"], 0.5, 0, 2000)
    vectors = [np.random.default_rng(4).normal(size=(len(t.item_ids), 8)).astype(np.float32) for t in tasks]
    whole = score_signal(tasks, vectors)
    monkeypatch.setattr(signal, "CHUNK_SCORES", 100)  # a few users per chunk
    assert score_signal(tasks, vectors) == whole
    on_torch = score_signal(tasks, [torch.from_numpy(v) for v in vectors])
    assert on_torch == pytest.approx(whole, rel=1e-6)


def test_hand_computed_signal_with_history_masked():
    """Query i1's scores: i2 0.9 (history, masked), i3 0.8, target i0 0.5 -> rank 1, NDCG 1/log2(3)."""
    items = pa.table({"domain": ["a"] * 4, "item_id": ["i0", "i1", "i2", "i3"], "text": ["w", "x", "y", "z"]})
    inter = pa.table({"domain": ["a"] * 3, "user_id": ["u"] * 3, "item_id": ["i2", "i1", "i0"],
                      "timestamp": pa.array([1, 2, 3], pa.int64())})
    task = signal_tasks(items, inter, ["a"], 0.999999, 0)[0]
    assert list(task.queries) == [1] and list(task.targets) == [0] and list(task.history[0]) == [1, 2]
    q = np.array([1.0, 0.0])
    vec = np.array([[0.5, np.sqrt(0.75)], q, [0.9, np.sqrt(0.19)], [0.8, 0.6]])
    got = score_signal([task], [vec], k=10)
    assert got["next_item_ndcg"] == pytest.approx(1 / np.log2(3)) and got["next_item_recall"] == 1.0
    assert score_signal([task], [vec], k=1)["next_item_recall"] == 0.0


def _write_parts(folder, table: pa.Table, parts: int) -> Location:
    folder.mkdir(parents=True)
    step = -(-table.num_rows // parts)
    for p in range(parts):
        pq.write_table(table.slice(p * step, step), folder / f"part-{p}.parquet")
    return Location.of(str(folder))


def _ctx(tmp_path, items: pa.Table, inter: pa.Table, overrides: list[str]) -> StageContext:
    inputs = {"items": _write_parts(tmp_path / "items", items, 3), "interactions": _write_parts(tmp_path / "inter", inter, 4)}
    config = load_config("configs/demo.yaml", overrides)
    root = Location.of(str(tmp_path))
    return StageContext(config=config, settings=config.contrastive, output=root / "out", inputs=inputs, run_root=root)


def test_the_ray_rounds_over_files_equal_the_one_process_rounds(tmp_path, ray_session):
    items, inter = _data(sizes=(200, 30, 60), users=80)
    items = items.cast(pa.schema([pa.field(n, pa.string(), nullable=False) for n in items.column_names]))  # as ingest writes
    ctx = _ctx(tmp_path, items, inter, ["pairs.heldout_users=0.3", "pairs.seed=5", "contrastive.signal_pool=40",
                                        "contrastive.signal_max_users=9"])
    refs = signal_inputs(ctx, ["a", "b", "c"])
    got = load_signals(refs)
    want = [t for t in signal_tasks(items, inter, ["a", "b", "c"], 0.3, 5, 9, pool=40) if len(t.queries)]
    assert len(got) == len(want) == 3
    for a, b in zip(got, want):
        _same(a, b)
    assert ctx.stats["signal_pool"]["a"] == {"pool": len(got[0].item_ids), "items": 200, "whole_catalogue": False}
    assert ctx.stats["signal_pool"]["b"]["whole_catalogue"]
    assert ctx.stats["signal_users"] == sum(len(t.queries) for t in want)
    # the files: one folder per domain, the staged parts gone
    folder = ctx.output / "signal"
    assert [c.name for c in folder.children()] == ["a", "b", "c"]
    assert sorted(c.name for c in (folder / "a").children()) == ["pool.parquet", "signal.json", "unrelated.parquet",
                                                                "users.parquet"]
    # the driver holds references: no texts, a few hundred bytes a domain
    assert all(not hasattr(r, "texts") and not hasattr(r, "item_ids") for r in refs)
    blob = pickle.dumps(refs)
    assert len(blob) < 300 * len(refs) and b"text of" not in blob
    # centering texts: a stride over the joined pools, read by a task per domain
    joined = [t for task in want for t in task.texts]
    for limit in (7, 50, 10_000):
        step = max(1, len(joined) // limit)
        assert _center_texts(refs, RowSummary(), limit) == joined[::step][:limit]


def test_a_domain_the_split_leaves_empty_or_a_pool_below_k_is_one_line(tmp_path, ray_session):
    items, inter = _data(sizes=(30, 30, 30), users=3)
    ctx = _ctx(tmp_path / "all", items, inter, ["pairs.heldout_users=0.99"])
    with pytest.raises(DataError, match=r"training domain 'a' has no interactions left .*pairs.heldout_users"):
        signal_inputs(ctx, ["a"])
    tiny_items = items.filter(pa.array([i.endswith(("000", "001", "002", "003")) for i in items.column("item_id").to_pylist()]))
    ctx = _ctx(tmp_path / "tiny", tiny_items, _data(sizes=(4, 4, 4), users=40)[1], ["pairs.heldout_users=0.5"])
    with pytest.raises(DataError, match=r"training domain 'a' has a held-out candidate pool of \d items, fewer than K=10; "
                                        r"raise contrastive.signal_pool"):
        signal_inputs(ctx, ["a"])


def test_a_pool_setting_below_k_is_refused_when_the_config_loads():
    from gre_ray.errors import ConfigError

    with pytest.raises(ConfigError, match="signal_pool must be at least 10"):
        load_config("configs/demo.yaml", ["contrastive.signal_pool=5"])


def _with_edge_cases(tmp_path):
    """Signals of a whole catalogue, a sampled pool, a user with no history and a domain with no users."""
    items, inter = _data(sizes=(25, 200, 30), users=60)
    tasks = signal_tasks(items, inter, ["a", "b", "c"], 0.3, 5, 2000, pool=40)
    one = pa.table({"domain": ["d"] * 3, "item_id": ["x0", "x1", "x2"], "text": ["p", "q", "r"]})
    pair = pa.table({"domain": ["d", "d"], "user_id": ["u", "u"], "item_id": ["x1", "x0"],
                     "timestamp": pa.array([1, 2], pa.int64())})
    nobody = signal_tasks(one, pair, ["d"], 1e-9, 0)[0]  # no held-out user
    # the query is always in a user's history; a history is empty when a hand-made task says so
    hand = signal.DomainSignal("e/f", ["y0", "y1", "y2"], ["", "ü", "w"], np.array([0, 1, 2]), np.array([1, 2, 0]),
                               [np.zeros(0, np.int64), np.array([0, 2]), np.zeros(0, np.int64)], np.array([2, 0, 1]),
                               np.array([[0, 1], [1, 2]]), 7)
    return tasks + [hand, nobody]


def test_a_signal_written_and_read_back_is_the_same(tmp_path):
    tasks = _with_edge_cases(tmp_path)
    assert tasks[0].whole_catalogue and not tasks[1].whole_catalogue
    assert len(tasks[3].history[0]) == 0 and not tasks[3].whole_catalogue and len(tasks[4].queries) == 0
    root = Location.of(str(tmp_path / "signal"))
    for i, task in enumerate(tasks):
        ref = write_signal(task, root / f"d{i}")
        assert ref == SignalRef(task.domain, f"file://{tmp_path}/signal/d{i}", len(task.queries), len(task.item_ids),
                                task.catalogue)
        assert ref.whole_catalogue == task.whole_catalogue
        back = read_signal(ref.uri)
        _same(back, task)
        assert back.queries.dtype == np.int64 and back.unrelated.shape == task.unrelated.shape
        assert all(h.dtype == np.int64 for h in back.history)
    vectors = [np.random.default_rng(2).normal(size=(len(t.item_ids), 8)) for t in tasks]
    refs = [write_signal(t, root / f"d{i}") for i, t in enumerate(tasks)]
    assert score_signal(load_signals(refs), vectors) == score_signal(tasks, vectors)


def test_a_reference_is_refused_with_a_driver_path():
    with pytest.raises(ConfigError, match=r"held-out signal of domain 'a': '/tmp/x/a' is a path on the driver"):
        SignalRef("a", "/tmp/x/a", 1, 10, 10)


def test_the_centering_stride_read_from_the_files_equals_one_stride_over_the_joined_texts(tmp_path):
    tasks = _with_edge_cases(tmp_path)
    root = Location.of(str(tmp_path / "signal"))
    refs = [write_signal(t, root / f"d{i}") for i, t in enumerate(tasks)]
    joined = [t for task in tasks for t in task.texts]
    for limit in (1, 3, 7, 40, 99, len(joined), 10_000):
        step = max(1, len(joined) // limit)
        got = [t for r, where in zip(refs, center_slices([r.pool for r in refs], limit))
               for t in strided_texts(r.uri, *where, batch=4)]
        assert got == joined[::step][:limit], limit


def test_the_task_carries_references_and_reads_the_signal_once_where_it_runs(tmp_path):
    tasks = _with_edge_cases(tmp_path)[:3]
    root = Location.of(str(tmp_path / "signal"))
    refs = [write_signal(t, root / t.domain) for t in tasks]
    task = ContrastiveTask(ContrastiveConfig(), "minilm", signal=refs)
    assert task.metric == ContrastiveConfig().select_metric
    small = len(pickle.dumps(task))
    loaded = task.signals()
    for a, b in zip(loaded, tasks):
        _same(a, b)
    assert task.signals() is loaded  # read once
    assert len(pickle.dumps(task)) == small  # the signals never travel with the task
    assert pickle.loads(pickle.dumps(task))._signals is None
