"""Ctrl-C (a real SIGINT) to ``gre-ray run`` in a subprocess: during the benchmark grid and during a
Ray Data stage. The stage is not recorded as done, the exit status is 130, one line says what was
kept and how to resume, and the same command run again finishes the work without redoing what
had finished (the grid's finished trials stay in the results store)."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gre_ray.bench.store import ResultsStore
from gre_ray.data.storage import Location, read_json

REPO = Path(__file__).parents[2]
SMOKE = "configs/demo.smoke.yaml"


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gre_ray.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True, start_new_session=True)


def _wait_for(proc: subprocess.Popen, log: Path, pattern: str, timeout: float = 600) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, log.read_text(), re.MULTILINE)
        if found:
            return found
        assert proc.poll() is None, f"exited ({proc.returncode}) before {pattern!r}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} in time:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _interrupt(proc: subprocess.Popen, log: Path) -> str:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=300)
    return log.read_text()


def _rerun(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gre_ray.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_ctrl_c_during_the_benchmark_grid_keeps_finished_trials_and_the_rerun_finishes_it(tmp_path):
    root = tmp_path / "run"
    args = ["run", SMOKE, "--set", f"run.root={root}", "--set", "run.stages=[demo_data, benchmark]",
            "--set", "benchmark.embeddings=[]", "--set", "benchmark.base_embedding=",
            "--set", "benchmark.seeds=[0, 1, 2]", "--set", "benchmark.resources.max_concurrent_trials=1"]
    log = tmp_path / "first.log"
    proc = _start(args, log)
    _wait_for(proc, log, r"\[2/12\] ")
    err = _interrupt(proc, log)

    assert proc.returncode == 130, err[-3000:]
    store = ResultsStore.of_run(Location.of(root))
    kept = store.keys()
    assert 2 <= len(kept) < 12, "the grid was interrupted mid-way"
    last = err.strip().splitlines()[-1]
    assert last == (f"gre-ray: interrupted by SIGINT during stage benchmark, which is not recorded as done; kept: "
                    f"stage demo_data done, {len(kept)} of 12 trials in the results store {store.root.uri} "
                    f"({len(kept)} finished in this run); to resume, run again: gre-ray {shlex.join(args)}")
    assert "Traceback" not in err and "failed after" not in err
    assert not (root / "benchmark" / "manifest.json").exists()

    again = _rerun(args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stage benchmark: up to date" not in again.stderr
    stats = read_json(Location.of(root) / "benchmark" / "manifest.json")["stats"]
    assert (stats["trials"], stats["trained"], stats["reused"], stats["failed"]) == (12, 12 - len(kept), len(kept), {})
    assert kept < store.keys() and len(store.keys()) == 12  # the finished trials were not trained again
    assert f"12 trials ({12 - len(kept)} trained, {len(kept)} from the results store), 0 failed" in again.stdout


@pytest.mark.slow
def test_ctrl_c_during_a_ray_data_stage_records_nothing_and_the_rerun_finishes(tmp_path):
    root = tmp_path / "run"
    args = ["-v", "run", SMOKE, "--set", f"run.root={root}", "--set", "run.stages=[demo_data, embed]"]
    log = tmp_path / "first.log"
    proc = _start(args, log)
    _wait_for(proc, log, r"Starting execution of Dataset .*")  # -v: Ray Data's own log shows its work started
    err = _interrupt(proc, log)

    assert proc.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1] == (
        "gre-ray: interrupted by SIGINT during stage embed, which is not recorded as done; kept: stage demo_data "
        f"done; to resume, run again: gre-ray {shlex.join(args)}")
    assert not (root / "embed").exists()
    assert not [p for p in (root / "_tmp").rglob("*") if p.is_file()]

    again = _rerun(args[1:])
    assert again.returncode == 0, again.stderr[-3000:]
    run = read_json(Location.of(root) / "run.json")
    assert [(s["stage"], s["status"]) for s in run["stages"]] == [("demo_data", "skipped"), ("embed", "ran")]
    assert read_json(Location.of(root) / "embed" / "manifest.json")["rows"]["out"] == 432
    assert "Starting execution of Dataset" not in again.stderr, "without -v Ray Data's console log is quiet"
