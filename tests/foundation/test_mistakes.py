"""Every user mistake is one ``gre-ray: error:`` line, exit status 2, before any work.

A table of mistakes goes through the CLI (``gre_ray.cli.main``): each must print exactly
one line on stderr, exit 2, show no traceback, and leave the run folder unwritten (the
preflight runs for every listed stage before the run folder is touched). Strict-mode
quarantine, found only while parsing, is checked through Ray with the whole process's
stderr captured, where Ray's own tracebacks would appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gre_ray.cli import main as cli_main
from tests.ingest.conftest import write_yelp

REPO = Path(__file__).parents[2]


def run(root: Path, *settings: str) -> list[str]:
    return ["run", "--set", f"run.root={root}", *(a for s in settings for a in ("--set", s))]


def case_config_not_utf8(tmp: Path) -> tuple[list[str], str]:
    (tmp / "bad.yaml").write_bytes(b"run:\n  root: caf\xe9\n")
    return ["run", str(tmp / "bad.yaml")], f"config file {tmp / 'bad.yaml'}:2:12: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def case_registry_not_utf8(tmp: Path) -> tuple[list[str], str]:
    (tmp / "reg.yaml").write_bytes(b"datasets:\n  Arts:\n    note: caf\xe9\n")
    argv = run(tmp / "run", "run.stages=[ingest]", "ingest.datasets=[Arts]", f"ingest.registry={tmp / 'reg.yaml'}")
    return argv, f"registry {tmp / 'reg.yaml'}:3:14: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def case_datasets_registry_not_utf8(tmp: Path) -> tuple[list[str], str]:
    (tmp / "reg.yaml").write_bytes(b"datasets:\n  \xff: {}\n")
    return ["datasets", "--registry", str(tmp / "reg.yaml")], f"registry {tmp / 'reg.yaml'}:2:3: not UTF-8 text (byte 0xff)"


def case_datasets_missing_data_root(tmp: Path) -> tuple[list[str], str]:
    return ["datasets", "--data-root", str(tmp / "nonexistent")], f"--data-root {tmp / 'nonexistent'} does not exist"


def case_missing_model(tmp: Path) -> tuple[list[str], str]:
    argv = run(tmp / "run", "run.stages=[demo_data, embed]", f"embed.encoder.model={tmp / 'no-model'}")
    return argv, f"embed.encoder.model '{tmp / 'no-model'}': not found (no such folder)"


def case_missing_model_of_a_late_stage(tmp: Path) -> tuple[list[str], str]:
    argv = run(tmp / "run", "run.stages=[demo_data, embed, coreset, mlm]", f"mlm.model={tmp / 'no-model'}")
    return argv, f"mlm.model: encoder.model '{tmp / 'no-model'}': not found (no such folder)"


def case_unknown_benchmark_dataset(tmp: Path) -> tuple[list[str], str]:
    argv = run(tmp / "run", "run.stages=[demo_data, benchmark]", "demo_data.domains=[fiction, movies]",
               "benchmark.datasets=[fiction, Fictoin]")  # fmt: skip
    return argv, "benchmark.datasets: 1 dataset(s) not produced by demo_data.domains: Fictoin (available: fiction, movies)"


def case_unknown_ingest_dataset(tmp: Path) -> tuple[list[str], str]:
    return run(tmp / "run", "run.stages=[ingest]", "ingest.datasets=[Artz]"), "ingest.datasets: unknown dataset(s) 'Artz' (known: "


def case_missing_data_root(tmp: Path) -> tuple[list[str], str]:
    argv = run(tmp / "run", "run.stages=[ingest]", "ingest.datasets=[Arts]", f"ingest.data_root={tmp / 'raw'}")
    return argv, f"ingest.data_root {tmp / 'raw'} does not exist (the raw files of Arts go under it; "


def case_empty_data_root(tmp: Path) -> tuple[list[str], str]:
    (tmp / "raw").mkdir()
    argv = run(tmp / "run", "run.stages=[ingest]", "ingest.datasets=[Arts]", f"ingest.data_root={tmp / 'raw'}")
    return argv, f"ingest.data_root {tmp / 'raw'} is empty (the raw files of Arts go under it; "


def case_zero_byte_raw_file(tmp: Path) -> tuple[list[str], str]:
    (tmp / "raw").mkdir()
    source = write_yelp(tmp / "raw")
    (tmp / "raw" / source["interactions"][0]).write_bytes(b"")
    argv = run(tmp / "run", "run.stages=[ingest]", f"ingest.data_root={tmp / 'raw'}", f"ingest.sources={json.dumps([source])}")
    return argv, "ingest: dataset 'Yelp': raw file yelp_academic_dataset_review.json is empty (0 bytes); replace it"


CASES = [v for k, v in sorted(globals().items()) if k.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_mistake_is_one_line_exit_2_before_any_work(case, tmp_path, capfd):
    argv, expected = case(tmp_path)
    capfd.readouterr()
    status = cli_main(argv)
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"gre-ray: error: {expected}"), lines[0]
    assert "Traceback" not in out + err
    assert not (tmp_path / "run").exists(), "a mistake found in preflight must leave nothing written"


def test_strict_mode_quarantine_is_one_line_without_ray_tracebacks(ray_session, tmp_path):
    """Two bad datasets parse at once through a real ``gre-ray run`` process (joining the tests' Ray):
    the second's tasks are cancelled, not printed by Ray as unhandled errors once the stage's
    folder is gone."""
    (tmp_path / "raw" / "b").mkdir(parents=True)
    first = write_yelp(tmp_path / "raw")
    second = {**write_yelp(tmp_path / "raw" / "b"), "name": "Yelp2"}
    second.update(interactions=[f"b/{n}" for n in second["interactions"]], items=[f"b/{n}" for n in second["items"]])
    argv = run(tmp_path / "run", "run.stages=[ingest]", f"ingest.data_root={tmp_path / 'raw'}",
               "ingest.strict=true", f"ingest.sources={json.dumps([first, second])}")  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "gre_ray.cli", *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address},
                          cwd=REPO)  # fmt: skip
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["gre-ray: error: yelp_academic_dataset_review.json:3: bad_timestamp:date (ingest.strict is on)"], done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "Unhandled" not in done.stderr
    assert not (tmp_path / "run" / "ingest").exists()


def test_zero_byte_raw_file_with_allow_empty_is_a_warning_and_a_count(ray_session, tmp_path):
    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config

    (tmp_path / "raw" / "zero").mkdir(parents=True)
    good = write_yelp(tmp_path / "raw")
    (tmp_path / "raw" / "zero" / "review.json").write_bytes(b"")
    empty = {"name": "Zero", "adapter": "yelp", "interactions": ["zero/review.json"]}
    config = load_config(None, [f"run.root={tmp_path / 'run'}", "run.stages=[ingest]", f"ingest.data_root={tmp_path / 'raw'}",
                                f"ingest.sources={json.dumps([good, empty])}", "ingest.allow_empty=true"])  # fmt: skip
    (outcome,) = run_config(config)
    assert outcome.manifest["stats"]["empty_files"] == 1
    assert outcome.manifest["warnings"] == [
        "ingest: 1 raw file(s) of 0 bytes ingested as empty (ingest.allow_empty): Zero: zero/review.json"
    ]
    assert outcome.manifest["stats"]["datasets"]["Yelp"]["table1"]["interactions"] > 0
