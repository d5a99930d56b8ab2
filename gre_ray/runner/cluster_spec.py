"""Node types of a cluster config: a ``ray up`` YAML or a KubeRay ``RayCluster`` / ``RayJob``.

``gre-ray plan`` reads the cluster a user is about to start; the runtime check reads the YAML
the running autoscaler was started with. Both become :class:`~gre_ray.runner.resources.ClusterLimits`
here, with each GPU node type's accelerator where the config names it (an AWS instance type,
a GCP accelerator or machine type, a GKE accelerator node selector), so precision can be judged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gre_ray.errors import ConfigError
from gre_ray.runner.resources import ClusterLimits, NodeType

# AWS instance families with NVIDIA GPUs -> the GPU model.
_AWS_FAMILIES = {
    "p3": "V100", "p3dn": "V100", "g4dn": "T4", "g5g": "T4", "g5": "A10G", "g6": "L4", "gr6": "L4",
    "g6e": "L40S", "p4d": "A100", "p4de": "A100", "p5": "H100", "p5e": "H200", "p5en": "H200", "p6-b200": "B200",
}
# GCP accelerator types (also GKE's cloud.google.com/gke-accelerator label) -> the GPU model.
_GCP_ACCELERATORS = {
    "nvidia-tesla-t4": "T4", "nvidia-tesla-v100": "V100", "nvidia-tesla-p100": "P100", "nvidia-tesla-p4": "P4",
    "nvidia-tesla-k80": "K80", "nvidia-l4": "L4", "nvidia-tesla-a100": "A100", "nvidia-a100-80gb": "A100",
    "nvidia-h100-80gb": "H100", "nvidia-h100-mega-80gb": "H100", "nvidia-h200-141gb": "H200", "nvidia-b200": "B200",
}
# GCP machine series that come with their GPUs attached.
_GCP_SERIES = {"g2": "L4", "a2": "A100", "a3": "H100"}


def load_cluster(path: str | Path) -> ClusterLimits | None:
    """The node types and caps of the cluster config at ``path``.

    Returns:
        None for a ``ray up`` YAML of Ray's local provider (a list of hosts): their resources
        are detected when Ray starts on each, so they cannot be judged offline.

    Raises:
        ConfigError: one line when the file cannot be read or is neither kind of config.
    """
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the cluster config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") in ("RayCluster", "RayJob"):
            return kuberay_limits(doc, str(path))
    for doc in documents:
        if isinstance(doc, dict) and (doc.get("provider") or {}).get("type") == "local" and "available_node_types" not in doc:
            return None  # Ray's local provider: each host's resources are detected when Ray starts there
        if isinstance(doc, dict) and "available_node_types" in doc:
            limits = ray_up_limits(doc)
            if limits is None:
                raise ConfigError(f"{path}: a node type has no `resources:`, so its size is unknown; state them")
            return limits
    raise ConfigError(f"{path}: neither a `ray up` cluster YAML (available_node_types) nor a KubeRay RayCluster/RayJob")


def ray_up_limits(config: dict[str, Any]) -> ClusterLimits | None:
    """The limits of a ``ray up`` / fake-multinode cluster YAML (already parsed).

    Returns:
        None when a node type has no explicit resources (the cloud fills them in at launch:
        unknown, so no early refusal).
    """
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    parsed = []
    for name, spec in types.items():
        if "resources" not in (spec or {}):
            return None
        if name == head:
            count = 1 + int(spec.get("max_workers", 0))  # the head, and workers of its type if allowed
        else:
            max_nodes = spec.get("max_workers", config.get("max_workers"))
            count = None if max_nodes is None else int(max_nodes)
        resources = {k: float(v) for k, v in spec["resources"].items()}
        accelerator = _ray_up_accelerator(spec.get("node_config") or {}) if resources.get("GPU") else None
        parsed.append(NodeType(name, resources, count, accelerator))
    if not parsed:
        return None
    cap = config.get("max_workers")
    return ClusterLimits(tuple(parsed), None if cap is None else int(cap), head)


def _ray_up_accelerator(node_config: dict[str, Any]) -> str | None:
    instance = str(node_config.get("InstanceType") or "")
    if instance:
        return _AWS_FAMILIES.get(instance.split(".")[0], instance)
    for accelerator in node_config.get("guestAccelerators") or []:
        kind = str(accelerator.get("acceleratorType", ""))
        return _GCP_ACCELERATORS.get(kind, kind or None)
    machine = str(node_config.get("machineType") or "")
    return _GCP_SERIES.get(machine.split("-")[0]) if machine else None


def kuberay_limits(doc: dict[str, Any], where: str = "manifest") -> ClusterLimits:
    """The head and worker groups of a KubeRay ``RayCluster`` (or a ``RayJob``'s ``rayClusterSpec``)."""
    spec = doc.get("spec") or {}
    cluster = spec.get("rayClusterSpec", spec) if doc.get("kind") == "RayJob" else spec
    head_spec = cluster.get("headGroupSpec")
    if not isinstance(head_spec, dict):
        raise ConfigError(f"{where}: {doc.get('kind')} has no spec.headGroupSpec")
    head = _group_resources(head_spec, where, "headGroupSpec")
    types = [NodeType("head", head, 1, _k8s_accelerator(head_spec) if head.get("GPU") else None)]
    for i, group in enumerate(cluster.get("workerGroupSpecs") or []):
        name = group.get("groupName") or f"workerGroupSpecs[{i}]"
        max_replicas = group.get("maxReplicas", group.get("replicas"))
        resources = _group_resources(group, where, f"workerGroupSpecs[{name}]")
        types.append(NodeType(
            name, resources, None if max_replicas is None else int(max_replicas),
            _k8s_accelerator(group) if resources.get("GPU") else None,
        ))
    return ClusterLimits(tuple(types), None, "head")


def _group_resources(group: dict[str, Any], where: str, key: str) -> dict[str, float]:
    """What a group's Ray node advertises: ``rayStartParams`` first, else its container's limits."""
    params = group.get("rayStartParams") or {}
    containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or []
    limits = ((containers[0].get("resources") or {}).get("limits") or {}) if containers else {}
    resources: dict[str, float] = {}
    cpu = params.get("num-cpus", limits.get("cpu"))
    gpu = params.get("num-gpus", limits.get("nvidia.com/gpu"))
    if cpu is None:
        raise ConfigError(f"{where}: {key} states no CPUs (rayStartParams num-cpus or the container's cpu limit)")
    resources["CPU"] = _quantity(cpu, where, key)
    if gpu is not None and _quantity(gpu, where, key):
        resources["GPU"] = _quantity(gpu, where, key)
    return resources


def _quantity(value: Any, where: str, key: str) -> float:
    """A Kubernetes CPU/GPU quantity (``8``, ``"8"``, ``"7500m"``) as a number."""
    text = str(value).strip().strip('"')
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", text)
    if not match:
        raise ConfigError(f"{where}: {key}: {value!r} is not a CPU/GPU quantity")
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


def _k8s_accelerator(group: dict[str, Any]) -> str | None:
    selector = ((group.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    gke = selector.get("cloud.google.com/gke-accelerator")
    if gke:
        return _GCP_ACCELERATORS.get(str(gke), str(gke))
    instance = selector.get("node.kubernetes.io/instance-type")
    if instance:
        return _AWS_FAMILIES.get(str(instance).split(".")[0], str(instance))
    return None
