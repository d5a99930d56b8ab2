"""SIGINT / SIGTERM during a stage: the stage is not recorded as done, finished stages are kept,
one line says so and how to resume, the exit status is 130 / 143, and the next run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gre_ray.data.storage import Location, read_table
from gre_ray.runner import interrupt
from gre_ray.runner.interrupt import Interrupted
from gre_ray.runner.runner import TMP_DIR, run_pipeline
from tests.foundation.runner_fakes import REGISTRY, ScaleStage
from tests.foundation.test_runner import make_config, statuses

REPO = Path(__file__).parents[2]

# What the CLI does around a command (gre_ray/cli.py), with the runner's fake stages.
SCRIPT = """
import sys
from gre_ray.runner import interrupt
from gre_ray.runner.runner import run_pipeline
from tests.foundation.runner_fakes import REGISTRY
from tests.foundation.test_runner import make_config
with interrupt.handlers():
    try:
        run_pipeline(make_config(sys.argv[1]), REGISTRY)
    except KeyboardInterrupt as exc:
        print(interrupt.message(exc, ["run", "fake.yaml"]), file=sys.stderr)
        sys.exit(interrupt.exit_status())
"""


class InterruptedScale(ScaleStage):
    """Writes part of its output, then is interrupted as by Ctrl-C."""

    def run(self, ctx):
        (ctx.out("partial")).mkdir()
        signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_stage_keeps_finished_stages_and_the_rerun_finishes(tmp_path, signum, status):
    root = tmp_path / "run"
    env = {**os.environ, "GRE_TEST_HANG_IN_SCALE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(root)], env=env, cwd=REPO,
                            stderr=subprocess.PIPE, text=True)
    marker = tmp_path / "hanging"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == status, err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last == (f"gre-ray: interrupted by {name} during stage scale, which is not recorded as done; "
                    "kept: stage source done; to resume, run again: gre-ray run fake.yaml")
    assert "Traceback" not in err
    assert (root / "source" / "manifest.json").exists()
    assert not (root / "scale").exists() and not list((root / TMP_DIR).iterdir())
    assert not (root / "_lease.json").exists(), "the lease is released: the next run need not wait"

    outcomes = run_pipeline(make_config(root), REGISTRY)
    assert statuses(outcomes) == {"source": "skipped", "scale": "ran"}
    assert read_table(Location.of(root / "scale" / "scaled")).column("x").to_pylist() == [0, 2, 4, 6, 8]


def test_the_runner_raises_interrupted_naming_the_stage_and_removes_its_partial_output(tmp_path):
    with interrupt.handlers():
        with pytest.raises(Interrupted) as caught:
            run_pipeline(make_config(tmp_path), {**REGISTRY, "scale": InterruptedScale})
        assert interrupt.received() == signal.SIGINT and interrupt.exit_status() == 130
    assert caught.value.stage == "scale" and caught.value.kept == ["stage source done"]
    assert not (tmp_path / "scale").exists() and not list((tmp_path / TMP_DIR).iterdir())
    assert statuses(run_pipeline(make_config(tmp_path), REGISTRY)) == {"source": "skipped", "scale": "ran"}


def test_what_a_stage_kept_follows_the_stages_kept_before_it():
    inner = Interrupted(["3 of 8 trials in the results store s3://b/r/results_store"])
    outer = interrupt.during("benchmark", inner, ["stages demo_data, embed done"])
    assert outer.stage == "benchmark"
    assert outer.kept == ["stages demo_data, embed done", "3 of 8 trials in the results store s3://b/r/results_store"]
    assert interrupt.during("embed", KeyboardInterrupt()).kept == []
    line = interrupt.message(outer, ["run", "configs/demo.yaml", "--set", "run.root=runs/my run"])
    assert line.endswith("to resume, run again: gre-ray run configs/demo.yaml --set 'run.root=runs/my run'")
    assert "\n" not in line


def test_handlers_restore_the_previous_ones():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupt.handlers():
        assert signal.getsignal(signal.SIGTERM) is not before[1]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
