"""End to end: the smoke pipeline on the local autoscaling cluster, GPU worker group started from zero.

The cluster is ``cluster/local-autoscale.yaml`` (Ray's fake multi-node provider, token auth,
simulated GPUs; :mod:`tests.cluster.autoscale_head`); the job is submitted as the README says,
with the checkout as a ``local://`` working dir: every fake node shares the head's session
folder, and a node that unpacks an uploaded working dir replaces the folder the driver and
the other nodes' workers run in.
The config asks the accelerator group for everything that can use it: embedding actors and
Tune trials with GPU shares, contrastive training with ``use_gpu`` (one GPU per worker, so
two GPU nodes). The head has no GPU, so nothing of that can start until the stages' requests
make the autoscaler launch GPU nodes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from gre_ray.data.storage import Location, read_json
from tests.cluster.autoscale_head import autoscaler_version_env, cluster_state, local_autoscaling_head, monitor_log
from tests.cluster.ray_head import ROOT, head_processes

SMOKE = "configs/demo.smoke.yaml"
GPU_SETTINGS = [
    "embed.num_gpus=0.5",
    "benchmark.embed_gpus=0.5",
    "benchmark.resources.gpus=0.5",
    "contrastive.scaling.use_gpu=true",
]
FAKE_HEAD_NODE_ID = "f" * 51 + "00000"
NODE_ID = re.compile(r"\b[0-9a-f]{56}\b")


def _sets(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def _results(root: Path) -> pd.DataFrame:
    frame = pd.read_parquet(root / "benchmark" / "results" / "results.parquet")
    return frame.sort_values(["trial", "metric"], ignore_index=True)[["trial", "metric", "value", "valid_value"]]


def _recorded_nodes(root: Path) -> dict[str, set[str]]:
    """Node ids the stages recorded: embed actors, training workers, benchmark trials."""
    embed = read_json(Location.of(root) / "embed" / "manifest.json")
    contrastive = read_json(Location.of(root) / "contrastive" / "manifest.json")
    trials = set()
    for result in (root / "benchmark" / "tune").rglob("result.json"):
        for line in result.read_text().splitlines():
            node = json.loads(line).get("node_id")
            if node:
                trials.add(node)
    return {
        "embed": set(NODE_ID.findall(json.dumps(embed))),
        "contrastive": set(contrastive["stats"]["worker_nodes"]),
        "benchmark": trials,
    }


def _local_run(root: Path, *sets: str) -> None:
    """``python -m jobs.pipeline`` on a private local Ray (no cluster, no simulated GPUs)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "GRE_RAY_SIMULATED_GPUS")}
    env["RAY_AUTH_MODE"] = "disabled"
    done = subprocess.run(
        [sys.executable, "-m", "jobs.pipeline", "--config", SMOKE, "--set", f"run.root={root}",
         "--set", "run.num_cpus=2", *_sets(list(sets))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_smoke_pipeline_on_gpu_nodes_the_autoscaler_starts_from_zero(tmp_path):
    root = tmp_path / "cluster-run"
    job_id = f"gre-as-{uuid.uuid4().hex[:8]}"
    # The demo data is written first, outside the cluster: the job then starts with a GPU
    # stage. (On the cluster, Ray Data's own autoscaler asks for nodes of every type as soon
    # as the data generation keeps the head's CPUs busy, before any stage has asked.)
    _local_run(root, "run.stages=[demo_data]")
    with local_autoscaling_head() as head:
        before = cluster_state(head)
        assert before["version"] == {"1": "v2", "0": "v1"}[autoscaler_version_env()], before
        assert before["up"] == {"ray.head.default": 1}, before  # no worker node yet
        assert before["config"] and before["config"].startswith(head.temp_dir), before

        started = time.monotonic()
        submitted = head.ray(
            "job", "submit", "--address", head.dashboard, "--submission-id", job_id,
            "--runtime-env", "jobs/runtime_env.yaml", "--working-dir", f"local://{ROOT}", "--",
            "python", "-m", "jobs.pipeline", "--config", SMOKE, "--set", f"run.root={root}", *_sets(GPU_SETTINGS),
            timeout=540,
        )
        job_s = time.monotonic() - started
        output = submitted.stdout + submitted.stderr
        assert head.job_status(job_id) == "SUCCEEDED", output[-6000:]

        after = cluster_state(head)
        assert after["requested"] == [], after  # every stage withdrew its request
        autoscaler = monitor_log(head)
        temp_dir = head.temp_dir
    assert not head_processes(temp_dir), "the cluster's processes outlived the test"

    launched = re.findall(r"Adding (\d+) node\(s\) of type (ray\.worker\.\w+)", autoscaler)
    ours = [line for line in output.splitlines() if re.search(r"waiting for|cluster ready|withdrawn|stage \w+: done", line)]
    print(f"\njob {job_s:.0f}s")  # the timeline, for the record (pytest -s)
    print("\n".join(line for line in autoscaler.splitlines() if "Adding" in line or "Removing" in line))
    print("\n".join(ours))
    assert "ray.worker.gpu" in {t for _, t in launched}, autoscaler[-4000:]
    assert any("nodes pending" in line for line in ours), output[-6000:]

    nodes = _recorded_nodes(root)
    for stage, ids in nodes.items():
        assert ids and FAKE_HEAD_NODE_ID not in ids, f"{stage} ran on {ids}, not (only) on launched GPU nodes"
    assert len(nodes["contrastive"]) == 2  # one GPU per worker, one GPU per node

    # The same config on one local Ray (GPU shares off: the simulated GPUs compute on the CPU).
    local = tmp_path / "local-run"
    _local_run(local)
    pd.testing.assert_frame_equal(_results(root), _results(local), check_exact=False, rtol=1e-5)


@pytest.mark.slow
def test_a_gpu_share_no_node_type_has_fails_the_job_in_one_line_before_any_node_starts(tmp_path):
    job_id = f"gre-as-{uuid.uuid4().hex[:8]}"
    with local_autoscaling_head() as head:
        submitted = head.ray(
            "job", "submit", "--address", head.dashboard, "--submission-id", job_id,
            "--runtime-env", "jobs/runtime_env.yaml", "--working-dir", f"local://{ROOT}", "--",
            "python", "-m", "jobs.pipeline", "--config", SMOKE, "--set", f"run.root={tmp_path / 'run'}",
            "--set", "benchmark.resources.gpus=2",
        )
        output = submitted.stdout + submitted.stderr
        assert head.job_status(job_id) == "FAILED"
        autoscaler = monitor_log(head)
    line = ("gre-ray: error: benchmark.resources: one trial asks {CPU: 1, GPU: 2}, more than any node type of the "
            "cluster has (most GPU on one node: 1, ray.worker.gpu)")
    assert line in output, output[-3000:]
    assert "Traceback" not in output
    assert "Adding" not in autoscaler  # refused before any stage ran: no node was started for it
