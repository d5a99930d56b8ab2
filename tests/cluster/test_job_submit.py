"""End to end: the smoke pipeline submitted with ``ray job submit`` to a local head with token auth.

The head is a real ``ray start --head`` cluster on loopback (see :mod:`tests.cluster.ray_head`),
apart from the test session's private Ray; the job is submitted exactly as the README says,
from the repository root with ``--working-dir .`` and ``jobs/runtime_env.yaml``.
"""

from __future__ import annotations

import uuid

import pytest

from gre_ray.data.storage import Location, read_json
from gre_ray.root_config import load_config
from tests.cluster.ray_head import head_processes, local_head

SMOKE = "configs/demo.smoke.yaml"


@pytest.mark.slow
def test_smoke_pipeline_submitted_as_a_job_succeeds_with_complete_outputs(tmp_path):
    root = tmp_path / "run"
    job_id = f"gre-e2e-{uuid.uuid4().hex[:8]}"
    with local_head() as head:
        anonymous = {**head.env, "RAY_AUTH_MODE": "disabled"}
        anonymous.pop("RAY_AUTH_TOKEN_PATH")
        refused = head.ray("job", "list", "--address", head.dashboard, env=anonymous, timeout=120)
        assert refused.returncode != 0
        assert "Missing authentication token" in refused.stdout + refused.stderr

        submit = ["job", "submit", "--address", head.dashboard, "--submission-id", job_id]
        runtime_env = ["--working-dir", ".", "--runtime-env", "jobs/runtime_env.yaml"]
        entrypoint = ["python", "-m", "jobs.pipeline", "--config", SMOKE, "--set", f"run.root={root}"]
        submitted = head.ray(*submit, *runtime_env, "--", *entrypoint)
        assert head.job_status(job_id) == "SUCCEEDED", submitted.stdout[-4000:] + submitted.stderr[-2000:]
        temp_dir = head.temp_dir
    assert not head_processes(temp_dir), "the head's processes outlived the test"

    stages = [str(getattr(s, "value", s)) for s in load_config(SMOKE).run.stages]
    run = read_json(Location.of(root) / "run.json")
    assert {s["stage"]: s["status"] for s in run["stages"]} == {stage: "ran" for stage in stages}
    for stage in stages:
        manifest = read_json(Location.of(root) / stage / "manifest.json")
        assert manifest["status"] == "complete"
        missing = [f["path"] for f in manifest["files"] if not (root / stage / f["path"]).is_file()]
        assert not missing, f"{stage}: files in the manifest but not on disk: {missing}"
