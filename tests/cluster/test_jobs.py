"""The ``jobs/`` entry points: the CLI's code path, one stage each, and one-line errors off-cluster."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import jobs.common
from gre_ray.errors import UserError
from gre_ray.wiring.ray_session import _check_reachable

ROOT = Path(__file__).parents[2]
STAGE_JOBS = ("demo_data", "ingest", "embed", "coreset", "pairs", "mlm", "contrastive", "benchmark")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cli_calls(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(jobs.common, "cli_main", lambda argv: calls.append(argv) or 0)
    return calls


@pytest.mark.parametrize("stage", STAGE_JOBS)
def test_stage_job_runs_only_its_stage_through_the_cli(stage, cli_calls):
    job = importlib.import_module(f"jobs.{stage}")
    assert job.main(["--config", "configs/x.yaml", "--set", "run.root=s3://b/r", "--force"]) == 0
    assert job.main(["--config", "configs/x.yaml"]) == 0
    assert cli_calls == [
        ["run", "configs/x.yaml", "--set", "run.root=s3://b/r", "--only", stage, "--force", stage],
        ["run", "configs/x.yaml", "--only", stage],
    ]


def test_pipeline_job_runs_every_stage_and_forwards_force(cli_calls):
    from jobs import pipeline

    assert pipeline.main(["--config", "c.yaml", "--set", "a.b=1", "--set", "c.d=2", "--force", "mlm"]) == 0
    assert cli_calls == [["run", "c.yaml", "--set", "a.b=1", "--set", "c.d=2", "--force", "mlm"]]


def test_jobs_need_a_config(capsys):
    from jobs import pipeline

    with pytest.raises(SystemExit) as exit_:
        pipeline.main([])
    assert exit_.value.code == 2 and "--config" in capsys.readouterr().err


def test_job_with_a_broken_yaml_exits_with_one_line(tmp_path, capsys):
    from jobs import pipeline

    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  root: [unclosed\n")
    assert pipeline.main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gre-ray: error: ") and str(bad) in err and err.count("\n") == 1


def test_stage_job_runs_the_real_pipeline(tmp_path, ray_session, monkeypatch, capsys):
    from jobs import demo_data, pipeline

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["--config", "configs/demo.smoke.yaml", "--set", f"run.root={tmp_path}", "--set", "run.stages=[demo_data]"]
    assert demo_data.main(args) == 0
    assert (tmp_path / "demo_data" / "manifest.json").is_file()
    assert "== demo_data: ran" in capsys.readouterr().out
    assert pipeline.main(args) == 0
    assert "== demo_data: skipped" in capsys.readouterr().out


def test_unreachable_cluster_is_one_line(monkeypatch):
    with pytest.raises(UserError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:\d+ \(Connection refused\)"):
        _check_reachable(f"127.0.0.1:{closed_port()}")
    with pytest.raises(UserError, match="is a dashboard"):
        _check_reachable("http://127.0.0.1:8265")
    _check_reachable("auto")


def test_job_without_a_reachable_cluster_exits_with_one_line(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    env = {**os.environ, "RAY_ADDRESS": address}
    args = ["--config", "configs/demo.smoke.yaml", "--set", f"run.root={tmp_path}"]
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gre-ray: error:")]
    assert errors == [
        f"gre-ray: error: cannot reach the Ray cluster at {address} (Connection refused); "
        "start it (`ray start --head`, `ray up`) or fix RAY_ADDRESS / run.ray_address"
    ]
