"""A throwaway local autoscaling cluster: ``cluster/local-autoscale.yaml`` started as the README says.

``RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config=...`` with token auth, simulated
GPUs (``GRE_RAY_SIMULATED_GPUS=1``) and its own temp dir, stopped by that temp dir like
:func:`tests.cluster.ray_head.local_head` (the fake provider's worker nodes are raylets the
head's autoscaler spawned, so they are among the head's descendants). The only change to the
YAML is the GCS address the fake provider starts worker nodes against: a free port here
instead of Ray's default 6379, which another Ray on the machine may hold. The head keeps
the machine's own IP (no ``--node-ip-address``): the fake worker nodes register with it,
and a head on another address than its nodes leaves Ray Train's cleaner unable to tell
which of two "clusters" to join.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from tests.cluster.ray_head import ROOT, Head, free_ports, started_head, token_temp_dir

FAKE_HEAD_NODE_ID = "f" * 51 + "00000"
LOCAL_YAML = ROOT / "cluster" / "local-autoscale.yaml"


@contextmanager
def local_autoscaling_head(num_cpus: int = 2) -> Iterator[Head]:
    """Start the local autoscaling cluster's head (no worker nodes); stop everything it started on exit."""
    temp_dir, env = token_temp_dir("gre-as-")
    ports = free_ports(4)
    config = yaml.safe_load(LOCAL_YAML.read_text())
    config["provider"]["gcs_address"] = f"127.0.0.1:{ports[0]}"
    config_path = Path(temp_dir) / "local-autoscale.yaml"
    config_path.write_text(yaml.safe_dump(config))
    head_env = {
        **env, "RAY_FAKE_CLUSTER": "1", "GRE_RAY_SIMULATED_GPUS": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        # What `ray up` and KubeRay give a head for autoscaler v2 (v1 ignores them): its instance
        # id (the fake provider's head id) and node type. v2 is the default, as under `ray up`.
        "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_NODE_ID, "RAY_NODE_TYPE_NAME": config["head_node_type"],
        "RAY_enable_autoscaler_v2": autoscaler_version_env(),
    }
    with started_head(temp_dir, env, ports, [f"--autoscaling-config={config_path}"], num_cpus,
                      start_env=head_env) as head:
        _wait_for_autoscaler(head)
        yield head


def autoscaler_version_env() -> str:
    """``RAY_enable_autoscaler_v2`` for the head: the caller's, else ``1`` (``ray up``'s default)."""
    return os.environ.get("RAY_enable_autoscaler_v2", "1")


_STATE = """
import json, sys, ray
from gre_ray.wiring.autoscale import RayCluster
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
cluster = RayCluster()
print(json.dumps({"version": cluster.version(), "up": cluster.nodes_by_type(), "requested": cluster.requested(),
                  "config": cluster.autoscaling_config()}))
"""


def cluster_state(head: Head) -> dict:
    """What the running autoscaler publishes (its version, live nodes by type, the bundles it holds
    from ``request_resources``), read by a client of the cluster the way the stages read it."""
    done = subprocess.run([sys.executable, "-c", _STATE, head.gcs], cwd=ROOT, env=head.env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wait_for_autoscaler(head: Head, timeout: float = 120) -> None:
    """Return once the autoscaler has published its first status: ``ray start`` returns before
    the monitor has, and ``ray status`` says "No cluster status" until then."""
    deadline = time.monotonic() + timeout
    while True:
        status = head.ray("status", "--address", head.gcs, timeout=60).stdout
        if "Node status" in status:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the autoscaler published no status in {timeout:.0f}s:\n{status}")
        time.sleep(1)


def monitor_log(head: Head) -> str:
    """The autoscaler's log (``monitor.log`` of the head's session)."""
    logs = Path(head.temp_dir) / "session_latest" / "logs"
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.glob("monitor*.log")))
