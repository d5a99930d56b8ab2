"""The stage runner: ordering, manifests, skipping, invalidation, atomicity after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gre_ray.data.storage import Location, read_json, read_table
from gre_ray.errors import ConfigError
from gre_ray.runner.runner import TMP_DIR, plan, run_pipeline
from tests.foundation.runner_fakes import REGISTRY, FailingStage, FakeConfig, RunSettings, ScaleSettings, SourceSettings


def make_config(root: Path, n: int = 5, factor: int = 2, stages=("source", "scale")) -> FakeConfig:
    return FakeConfig(RunSettings(str(root), list(stages)), SourceSettings(n), ScaleSettings(factor))


def statuses(outcomes):
    return {o.name: o.status for o in outcomes}


def test_plan_orders_by_artifacts_regardless_of_listing():
    order = [p.stage.name for p in plan(["scale", "source"], REGISTRY)]
    assert order == ["source", "scale"]
    assert plan(["scale", "source"], REGISTRY)[1].inputs == {"numbers": "source"}


def test_plan_errors_name_the_problem():
    with pytest.raises(ConfigError, match="needs 'numbers', which no listed stage provides \\(add one of: source\\)"):
        plan(["scale"], REGISTRY)
    with pytest.raises(ConfigError, match="unknown stage 'sorce'"):
        plan(["sorce"], REGISTRY)
    with pytest.raises(ConfigError, match="listed twice"):
        plan(["source", "source"], REGISTRY)

    class OtherSource(REGISTRY["source"]):
        name = "other"

    with pytest.raises(ConfigError, match="both 'source' and 'other' provide 'numbers'"):
        plan(["source", "other"], {**REGISTRY, "other": OtherSource})


def test_run_writes_outputs_and_manifest(tmp_path):
    outcomes = run_pipeline(make_config(tmp_path), REGISTRY)
    assert statuses(outcomes) == {"source": "ran", "scale": "ran"}
    scaled = read_table(Location.of(tmp_path / "scale" / "scaled"))
    assert scaled.column("x").to_pylist() == [0, 2, 4, 6, 8]
    manifest = read_json(Location.of(tmp_path / "scale" / "manifest.json"))
    assert manifest["status"] == "complete"
    assert manifest["rows"] == {"in": 5, "out": 5, "quarantined": {"odd input": 2}, "quarantined_total": 2}
    assert manifest["settings"] == {"factor": 2}
    assert manifest["inputs"]["numbers"]["stage"] == "source"
    assert manifest["inputs"]["numbers"]["fingerprint"] == outcomes[0].fingerprint
    assert "pyarrow" in manifest["versions"] and manifest["wall_time_s"] >= 0
    assert any(f["path"].startswith("scaled/") for f in manifest["files"])
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "run.json").exists()
    assert not list((tmp_path / TMP_DIR).iterdir())


def test_rerun_skips_unchanged_stages(tmp_path):
    first = run_pipeline(make_config(tmp_path), REGISTRY)
    mtime = (tmp_path / "scale" / "manifest.json").stat().st_mtime_ns
    second = run_pipeline(make_config(tmp_path), REGISTRY)
    assert statuses(second) == {"source": "skipped", "scale": "skipped"}
    assert [o.fingerprint for o in first] == [o.fingerprint for o in second]
    assert (tmp_path / "scale" / "manifest.json").stat().st_mtime_ns == mtime


def test_changed_upstream_config_reruns_it_and_everything_downstream(tmp_path):
    run_pipeline(make_config(tmp_path, n=5), REGISTRY)
    outcomes = run_pipeline(make_config(tmp_path, n=3), REGISTRY)
    assert statuses(outcomes) == {"source": "ran", "scale": "ran"}
    assert read_table(Location.of(tmp_path / "scale" / "scaled")).column("x").to_pylist() == [0, 2, 4]


def test_changed_downstream_config_reruns_only_downstream(tmp_path):
    run_pipeline(make_config(tmp_path, factor=2), REGISTRY)
    outcomes = run_pipeline(make_config(tmp_path, factor=3), REGISTRY)
    assert statuses(outcomes) == {"source": "skipped", "scale": "ran"}


def test_force_reruns_one_stage(tmp_path):
    run_pipeline(make_config(tmp_path), REGISTRY)
    outcomes = run_pipeline(make_config(tmp_path), REGISTRY, force=("source",))
    assert statuses(outcomes) == {"source": "ran", "scale": "skipped"}
    with pytest.raises(ConfigError, match="not in run.stages"):
        run_pipeline(make_config(tmp_path), REGISTRY, force=("nope",))


def test_only_needs_up_to_date_inputs(tmp_path):
    with pytest.raises(ConfigError, match="needed by scale but has no up-to-date output"):
        run_pipeline(make_config(tmp_path), REGISTRY, only=("scale",))
    run_pipeline(make_config(tmp_path), REGISTRY)
    outcomes = run_pipeline(make_config(tmp_path, factor=5), REGISTRY, only=("scale",))
    assert statuses(outcomes) == {"source": "skipped", "scale": "ran"}


def test_failed_stage_leaves_no_output_and_keeps_previous(tmp_path):
    run_pipeline(make_config(tmp_path), REGISTRY)
    with pytest.raises(RuntimeError, match="boom"):
        run_pipeline(make_config(tmp_path, factor=7), {**REGISTRY, "scale": FailingStage})
    assert not list((tmp_path / TMP_DIR).iterdir())
    # The old output is still the complete one of the old settings, so the next run redoes the stage.
    assert read_table(Location.of(tmp_path / "scale" / "scaled")).column("x").to_pylist() == [0, 2, 4, 6, 8]
    outcomes = run_pipeline(make_config(tmp_path, factor=7), REGISTRY)
    assert statuses(outcomes)["scale"] == "ran"


KILL_SCRIPT = """
import sys
from tests.foundation.runner_fakes import REGISTRY
from tests.foundation.test_runner import make_config
from gre_ray.runner.runner import run_pipeline
run_pipeline(make_config(sys.argv[1]), REGISTRY)
"""


def test_killed_stage_leaves_no_partial_output_and_next_run_completes(tmp_path):
    root = tmp_path / "run"
    env = {**os.environ, "GRE_TEST_HANG_IN_SCALE": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(root)], env=env, cwd=Path(__file__).parents[2])
    marker = tmp_path / "hanging"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the pipeline exited before reaching the hanging stage"
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert (root / "source" / "manifest.json").exists()
    assert not (root / "scale").exists(), "a killed stage must not leave output where readers look"
    assert list((root / TMP_DIR).iterdir()), "the partial output stays in _tmp until the next run"

    outcomes = run_pipeline(make_config(root), REGISTRY)
    assert statuses(outcomes) == {"source": "skipped", "scale": "ran"}
    assert not list((root / TMP_DIR).iterdir())
    assert read_table(Location.of(root / "scale" / "scaled")).column("x").to_pylist() == [0, 2, 4, 6, 8]


def test_runs_on_a_file_uri(tmp_path):
    outcomes = run_pipeline(make_config(f"file://{tmp_path}/uri-run"), REGISTRY)
    assert statuses(outcomes) == {"source": "ran", "scale": "ran"}
    assert (tmp_path / "uri-run" / "scale" / "manifest.json").exists()
    again = run_pipeline(make_config(f"file://{tmp_path}/uri-run"), REGISTRY)
    assert statuses(again) == {"source": "skipped", "scale": "skipped"}


def test_only_ignores_stages_downstream_of_it(tmp_path):
    outcomes = run_pipeline(make_config(tmp_path), REGISTRY, only=("source",))
    assert statuses(outcomes) == {"source": "ran"}
    assert not (tmp_path / "scale").exists()
