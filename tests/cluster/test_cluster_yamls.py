"""The ``ray up`` YAMLs in cluster/: valid for Ray's own launcher, closed to the internet, token auth on.

Validation runs the launcher's own steps offline: ``prepare_config`` (merge the provider's
defaults, fill node types) then ``validate_config`` (jsonschema against Ray's bundled
``ray-schema.json``), as ``ray up`` does before it contacts the cloud.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).parents[2] / "cluster"
LOCAL = CLUSTER / "local-autoscale.yaml"  # Ray's fake multi-node provider on this machine: no cloud, no SSH
YAMLS = sorted(p for p in CLUSTER.glob("*.yaml") if p != LOCAL)
RAY_PORTS = {6379, 8265, 10001}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_three_cluster_configs_exist():
    assert {p.name for p in YAMLS} >= {"aws-gpu.yaml", "gcp-gpu.yaml", "onprem.yaml"}


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_passes_ray_launcher_validation(path):
    prepared = prepare_config(copy.deepcopy(load(path)))
    validate_config(prepared)
    for name, node_type in prepared["available_node_types"].items():
        assert node_type["min_workers"] <= node_type["max_workers"], name


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_nothing_is_exposed_to_the_internet(path):
    config = load(path)
    text = path.read_text()
    assert "0.0.0.0" not in text
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    rules = config["provider"].get("security_group", {}).get("IpPermissions", [])
    for rule in rules:
        ports = set(range(rule.get("FromPort", 0), rule.get("ToPort", 65535) + 1))
        assert not ports & RAY_PORTS, f"{path.name} opens a Ray port: {rule}"


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_every_node_runs_ray_with_token_auth_and_the_token(path):
    config = load(path)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in config[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts), key
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_setup_installs_the_synced_project_with_the_right_torch(path):
    config = load(path)
    assert config["file_mounts"]["~/gre_ray"] == "."
    prepared = prepare_config(copy.deepcopy(config))
    head, workers = " ".join(prepared["head_setup_commands"]), " ".join(prepared["worker_setup_commands"])
    for commands in (head, workers):
        assert re.search(r"pip install .*-e \"\$HOME/gre_ray", commands)
        assert "ray[default,data,train,tune]==2.60.0" in commands
        # torch is installed from a chosen index before the project, so pip never picks the build
        assert commands.index("torch==") < commands.index("-e \"$HOME/gre_ray")
    if config["provider"]["type"] == "local":
        assert "nvidia-smi" in head and "whl/$build" in head
    else:
        assert "whl/cpu" in head and "whl/cu" not in head
        assert re.search(r"whl/cu\d+", workers) and "whl/cpu" not in workers


@pytest.mark.parametrize("path", [p for p in YAMLS if p.name != "onprem.yaml"], ids=lambda p: p.name)
def test_cloud_configs_have_a_cpu_head_and_an_autoscaling_spot_gpu_group(path):
    config = load(path)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu = [t for name, t in types.items() if name != config["head_node_type"] and t["resources"].get("GPU")]
    assert len(gpu) == 1
    group = gpu[0]
    assert group["min_workers"] == 0 < group["max_workers"] <= config["max_workers"]
    node = yaml.safe_dump(group["node_config"])
    assert "MarketType: spot" in node or "provisioningModel: SPOT" in node


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_names_its_storage_for_run_root(path):
    scheme = {"aws": "s3://", "gcp": "gs://", "local": "/mnt/"}[load(path)["provider"]["type"]]
    assert f"run.root={scheme}" in path.read_text()


def test_gcp_nodes_use_their_own_network_whose_rules_admit_only_the_cluster():
    """GCP's ``default`` network admits every VM of the project to every port; the nodes
    must sit in the config's own network, tagged, and its documented firewall rules admit
    other sources to SSH only."""
    path = CLUSTER / "gcp-gpu.yaml"
    text = path.read_text()
    rules = re.findall(r"gcloud compute firewall-rules create (\S+) --network=(\S+) \\\n#\s+(.*)", text)
    assert {name for name, _, _ in rules} == {"gre-ray-internal", "gre-ray-ssh"}
    tags = set()
    for name, network, flags in rules:
        assert network == "gre-ray-net"
        target = re.search(r"--target-tags=(\S+)", flags).group(1)
        tags.add(target)
        if "--source-ranges" in flags:
            assert re.search(r"--allow=(\S+)", flags).group(1) == "tcp:22", name
        else:
            assert re.search(r"--source-tags=(\S+)", flags).group(1) == target, name
    assert len(tags) == 1
    for name, node_type in load(path)["available_node_types"].items():
        config = node_type["node_config"]
        assert [i["network"].rsplit("/", 1)[-1] for i in config["networkInterfaces"]] == ["gre-ray-net"], name
        assert config["tags"]["items"] == sorted(tags), name
