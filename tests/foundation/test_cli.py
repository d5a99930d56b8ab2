"""The CLI: user mistakes are one line and exit 2; a good run prints the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gre_ray.cli import main

ROOT = Path(__file__).parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gre_ray.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "configs/demo.yaml", "--set", "demo_data.sede=1"], "unknown config key demo_data.'sede'; did you mean 'seed'?"),
        (["run", "configs/nope.yaml"], "config file configs/nope.yaml does not exist"),
        (["run", "configs/demo.yaml", "--set", "run.stages=[demo_data, embedd]"], "run.stages"),
        (["config", "--set", "demo_data.size=huge"], "demo_data.size: 'huge' is not one of tiny, demo, large"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("gre-ray: error: ")
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_config_command_prints_resolved_yaml(capsys):
    assert main(["config", "configs/demo.smoke.yaml", "--set", "demo_data.seed=3"]) == 0
    out = capsys.readouterr().out
    assert "size: tiny" in out and "seed: 3" in out


def test_console_script_reports_errors_with_exit_code_2():
    proc = run_cli("run", "configs/demo.yaml", "--set", "run.num_cpus=0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gre-ray: error: run: run.num_cpus must be at least 1, got 0"


def test_user_error_is_found_in_a_worker_traceback_but_not_other_errors():
    from gre_ray.cli import user_error_message

    text = (
        "ray.exceptions.UserCodeException: UDF failed to process a data block.\n"
        "Traceback (most recent call last):\n"
        '    raise DataError("items.parquet line 3: empty text")\n'
        "gre_ray.errors.DataError: items.parquet line 3: empty text\n"
    )
    assert user_error_message(RuntimeError(text)) == "items.parquet line 3: empty text"
    assert user_error_message(RuntimeError("gre_ray.errors.NotAnError: x\nValueError: y")) is None
    assert user_error_message(ValueError("plain bug")) is None


def test_user_error_raised_inside_a_ray_data_udf_is_one_line(ray_session):
    import ray

    from gre_ray.cli import user_error_message
    from gre_ray.errors import DataError

    def reject(batch):
        raise DataError("items.parquet line 3: empty text")

    with pytest.raises(Exception) as caught:
        ray.data.range(4).map_batches(reject).materialize()
    assert not isinstance(caught.value, DataError)  # Ray Data does not keep the original exception
    assert user_error_message(caught.value) == "items.parquet line 3: empty text"
