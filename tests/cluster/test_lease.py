"""Two runs on one run folder: the lease, on a local disk and on an S3-compatible server (moto on 127.0.0.1).

The runs are real processes (``tests/cluster/lease_runs.py``) whose first stage waits at a
gate, so the second run starts while the first is mid-stage, as two ``ray job submit``s to
one bucket would.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from gre_ray.data import conditional
from gre_ray.data.storage import Location, read_json, read_table, write_table
from gre_ray.runner.lease import LEASE_FILE, LeaseLost, RunLease, read_holder
from gre_ray.runner.runner import TMP_DIR, run_pipeline
from tests.cluster.lease_runs import GATED, LeaseConfig, LeaseRunSettings

REPO = Path(__file__).parents[2]


@pytest.fixture(params=["local", "s3"])
def run_root(request, tmp_path, monkeypatch) -> str:
    """A fresh run folder: a local path, or a key prefix in a new bucket of the moto server."""
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("s3_root")  # tests/cluster/conftest.py: a new bucket on the moto server


def start_run(root: str, n: int, wait_s: float, gate: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tests.cluster.lease_runs", root, str(n), str(wait_s), str(gate)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_second_run_stops_with_one_line_or_waits_and_no_row_is_lost(run_root, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    first = start_run(run_root, 6, 0, gate, tmp_path / "first.log")
    wait_for(lambda: (gate / f"started-{first.pid}").exists(), "the first run to reach its gated stage")
    root = Location.of(run_root)
    holder = read_holder(root)
    assert holder is not None and holder["pid"] == first.pid
    in_progress = root / TMP_DIR / holder["run_id"]
    assert (in_progress).is_dir()

    # A second run that may not wait: one line naming the holder, exit 2, nothing touched.
    second = start_run(run_root, 8, 0, gate, tmp_path / "second.log")
    assert second.wait(60) == 2
    lines = (tmp_path / "second.log").read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"gre-ray: error: run root {root.uri} is in use by run {holder['run_id']} (")
    assert f"pid {first.pid}," in lines[0] and "run.lease_wait_s" in lines[0]
    assert in_progress.is_dir() and (in_progress.children()[0] / "numbers" / "first").exists()

    # A third run that may wait: it starts once the first has finished, and reuses its output.
    third = start_run(run_root, 6, 60, gate, tmp_path / "third.log")
    wait_for(lambda: "waiting up to 60s" in (tmp_path / "third.log").read_text(), "the third run to wait")
    (gate / "go").touch()
    assert first.wait(60) == 0 and first.stdout.read().split() == ["source=ran", "scale=ran"]
    assert third.wait(60) == 0 and third.stdout.read().split() == ["source=skipped", "scale=skipped"]

    assert sorted(read_table(root / "source" / "numbers").column("x").to_pylist()) == list(range(6))
    assert sorted(read_table(root / "scale" / "scaled").column("x").to_pylist()) == [2 * x for x in range(6)]
    assert read_json(root / "source" / "manifest.json")["rows"]["out"] == 6
    assert not (root / LEASE_FILE).exists() and not (root / TMP_DIR).children()


def test_a_stale_lease_is_taken_over_with_a_warning_and_its_leftovers_removed(run_root, caplog):
    root = Location.of(run_root)
    dead = {"run_id": "deadbeef0001", "user": "someone", "host": "gone-host", "pid": 4242,
            "started_at": "2026-11-30T07:00:00+00:00", "heartbeat_unix": time.time() - 3600, "seq": 9}  # fmt: skip
    assert conditional.create(root / LEASE_FILE, json.dumps(dead).encode()) is not None
    write_table(pa.table({"x": [1]}), root / TMP_DIR / "deadbeef0001" / "source-0000" / "numbers")
    write_table(pa.table({"x": [1]}), root / TMP_DIR / "otherrun0002" / "source-0000" / "numbers")

    with caplog.at_level(logging.INFO, logger="gre_ray"):
        outcomes = run_pipeline(LeaseConfig(LeaseRunSettings(run_root)), GATED)
    assert [o.status for o in outcomes] == ["ran", "ran"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "took over the lease of run deadbeef0001 (someone@gone-host, pid 4242" in warnings[0]
    assert "no heartbeat for 3600s" in warnings[0]
    assert [c.name for c in (root / TMP_DIR).children()] == ["otherrun0002"], "only the dead run's folder is removed"
    assert not (root / LEASE_FILE).exists()


def test_a_run_whose_lease_was_taken_over_cannot_commit(run_root):
    root = Location.of(run_root)
    root.mkdir()
    stalled = RunLease(root, stale_s=60, heartbeat_s=3600).acquire()  # its heartbeat never comes
    taker = RunLease(root, wait_s=10, stale_s=0.3).acquire()
    assert taker.took_over["run_id"] == stalled.run_id
    with pytest.raises(LeaseLost, match=f"taken over by run {taker.run_id} "):
        stalled.confirm()
    stalled.release()
    assert read_holder(root)["run_id"] == taker.run_id, "the loser must not delete the new holder's lease"
    taker.confirm()
    taker.release()
    assert read_holder(root) is None


def test_two_takers_of_one_stale_lease_one_wins(run_root):
    """The takeover is a replace-if-unchanged write: of two writes from one version, one fails."""
    loc = Location.of(run_root) / LEASE_FILE
    tag = conditional.create(loc, b'{"run_id": "old"}')
    assert tag is not None and conditional.create(loc, b"again") is None
    won = conditional.replace(loc, b'{"run_id": "a"}', tag)
    assert won is not None and conditional.replace(loc, b'{"run_id": "b"}', tag) is None
    assert conditional.read(loc).data == b'{"run_id": "a"}'
    assert not conditional.delete(loc, tag) and conditional.delete(loc, won)
    assert conditional.read(loc) is None
