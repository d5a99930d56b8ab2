"""The Ray cluster's autoscaler, seen through what the installed Ray publishes for each version.

``ray up`` starts autoscaler **v2** since Ray 2.50 (``RAY_enable_autoscaler_v2=1`` on the head),
KubeRay does where its head sets ``RAY_CLOUD_INSTANCE_ID``/``RAY_NODE_TYPE_NAME``, and
``ray start --head --autoscaling-config`` still runs **v1** unless asked otherwise. The two
publish different things:

- v2: a flag in the GCS's autoscaler namespace, and the autoscaling state the GCS serves
  (``GetClusterStatus``: nodes by type, pending and failed launches, and the resource
  constraints it found infeasible);
- v1: the monitor's JSON status under the ``__autoscaling_status`` key (``monitor_pid``,
  ``autoscaler_report``, ``load_metrics_report``) and its crash under ``__autoscaling_error``.

Node types come from the cluster config the GCS holds where an autoscaler reported one, else
from the YAML named by the monitor's ``--autoscaling-config`` (``~`` expanded, as the monitor
does: the cloud YAMLs pass ``~/ray_bootstrap_config.yaml``), found among this machine's
processes (a job's driver runs on the head). Where neither can be read (KubeRay's autoscaler
runs in a sidecar container) the autoscaler is asked and waited for, and its own infeasible
report refuses what no node type can hold.

The waiting, the checks and the fit logic are plain Python in :mod:`gre_ray.runner.scaling`
and :mod:`gre_ray.runner.resources`; this module only makes the calls into Ray.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import ray
import yaml

from gre_ray.runner import scaling
from gre_ray.runner.cluster_spec import ray_up_limits
from gre_ray.runner.resources import ClusterLimits, Need, NodeType
from gre_ray.runner.scaling import ScalingStatus

log = logging.getLogger("gre_ray")

_settings = {"wait_s": scaling.DEFAULT_WAIT_S}


def configure(wait_s: float) -> None:
    """Set how long :func:`resources` waits for the autoscaler (``run.resource_wait_s``)."""
    _settings["wait_s"] = float(wait_s)


@contextmanager
def resources(need: Need, cluster: scaling.Cluster | None = None, **kwargs: Any) -> Iterator[None]:
    """Hold ``need`` on the Ray cluster this process joined (see :func:`gre_ray.runner.scaling.hold`)."""
    kwargs.setdefault("wait_s", _settings["wait_s"])
    with scaling.hold(need, cluster or RayCluster(), **kwargs):
        yield


def check_needs(needs: list[Need], cluster: scaling.Cluster | None = None) -> None:
    """Refuse at once the needs this cluster's node types can never meet."""
    scaling.check_needs(needs, cluster or RayCluster())


def refuse_if_autoscaled(needs: list[Need]) -> bool:
    """Refuse the needs an autoscaling cluster can never meet; True when an autoscaler runs.

    The caller checks today's resources only when this returns False (no autoscaler): with
    one, what the node types can hold is asked for when the work starts, and where the node
    types are unknown the autoscaler's own infeasible report refuses.
    """
    cluster = RayCluster()
    limits = cluster.limits()
    if limits is not None:
        for need in needs:
            scaling.refuse_infeasible(need, limits)
        return True
    return cluster.autoscales()


def current_limits() -> ClusterLimits | None:
    """The node types of the Ray cluster this process joined; None without Ray or known node types."""
    if not ray.is_initialized():
        return None
    return RayCluster().limits()


_COORDINATOR_LOCK = threading.Lock()
_COORDINATOR: Any = None
_EXPIRE_S, _REFRESH_S = 120.0, 30.0


def _coordinator():
    """This process's client of Ray's autoscaling coordinator (None when Ray has none)."""
    global _COORDINATOR
    with _COORDINATOR_LOCK:
        if _COORDINATOR is None:
            try:
                from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
                    DefaultAutoscalingCoordinator,
                )
            except ImportError:
                return None
            _COORDINATOR = DefaultAutoscalingCoordinator(f"gre_ray-{os.getpid()}")
        return _COORDINATOR


class RayCluster:
    """The Ray cluster this process joined, seen through its autoscaler's published state."""

    # One refresher per process (the coordinator knows this process as one requester).
    _refresher: tuple[threading.Event, threading.Thread] | None = None
    _request_lock = threading.Lock()

    def totals(self) -> dict[str, float]:
        return dict(ray.cluster_resources())

    def version(self) -> str | None:
        """``v2``, ``v1``, or None when no autoscaler has published anything."""
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        if is_autoscaler_v2(fetch_from_server=True):
            return "v2"
        return "v1" if self._v1_status() is not None else None

    def autoscales(self) -> bool:
        """Whether an autoscaler that can add nodes runs (a head without ``--autoscaling-config``
        runs a read-only monitor)."""
        version = self.version()
        if version is None:
            return False
        args = self._monitor_args()
        return args is None or any(a.startswith("--autoscaling-config=") for a in args)

    def limits(self) -> ClusterLimits | None:
        import ray._private.state

        reported = ray._private.state.state.get_cluster_config()
        if reported is not None and reported.node_group_configs:
            types = tuple(
                NodeType(g.name, {k: float(v) for k, v in g.resources.items()}, None if g.max_count < 0 else g.max_count)
                for g in reported.node_group_configs
            )
            return ClusterLimits(types)
        path = self.autoscaling_config()
        if path is None:
            return None
        try:
            return ray_up_limits(yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError):
            return None

    def autoscaling_config(self) -> str | None:
        """The monitor's ``--autoscaling-config``, ``~`` expanded (None: not found on this machine)."""
        for arg in self._monitor_args() or ():
            if arg.startswith("--autoscaling-config="):
                return os.path.expanduser(arg.split("=", 1)[1])
        return None

    def status(self) -> ScalingStatus:
        if self.version() == "v2":
            return _v2_status(self._v2_reply())
        return _v1_status(self._v1_status() or {})

    def requested(self) -> list[dict[str, float]]:
        """The bundles the autoscaler holds from ``request_resources`` (its cluster constraint)."""
        if self.version() == "v2":
            reply = self._v2_reply()
            return [
                dict(r.request.resources_bundle)
                for c in reply.cluster_resource_state.cluster_resource_constraints
                for r in c.resource_requests for _ in range(r.count)
            ]
        report = (self._v1_status() or {}).get("load_metrics_report") or {}
        return [dict(bundle) for bundle, count in report.get("request_demand") or [] for _ in range(count)]

    def nodes_by_type(self) -> dict[str, int]:
        """Live nodes by node type, as the autoscaler reports them."""
        return dict(self.status().up)

    def request(self, bundles: list[dict[str, float]]) -> None:
        """Replace this process's request to the autoscaler with ``bundles`` (empty: withdraw).

        Ray Data and Ray Train send their requests through Ray's autoscaling coordinator, a
        named actor that merges the requests of all requesters and re-sends the merge to
        the autoscaler every 20 s, overwriting any ``request_resources`` made beside it. So
        the request goes to that coordinator too, refreshed before it expires, and is
        cancelled there when withdrawn. Calls from several threads are serialised.
        """
        with RayCluster._request_lock:
            if RayCluster._refresher is not None:
                stop, thread = RayCluster._refresher
                stop.set()
                thread.join()
                RayCluster._refresher = None
            coordinator = _coordinator()
            if coordinator is None:  # a Ray without the coordinator: the autoscaler SDK alone
                from ray.autoscaler.sdk import request_resources

                request_resources(bundles=bundles)
                return
            if not bundles:
                coordinator.cancel_request()
                return
            stop = threading.Event()

            def refresh() -> None:
                while True:
                    coordinator.request_resources(resources=bundles, expire_after_s=_EXPIRE_S)
                    if stop.wait(_REFRESH_S):
                        return

            thread = threading.Thread(target=refresh, daemon=True, name="gre-ray-resource-request")
            RayCluster._refresher = (stop, thread)
            thread.start()

    def _v2_reply(self):
        from ray._raylet import GcsClient
        from ray.core.generated.autoscaler_pb2 import GetClusterStatusReply

        reply = GetClusterStatusReply()
        reply.ParseFromString(GcsClient(ray.get_runtime_context().gcs_address).get_cluster_status(timeout_s=10))
        return reply

    def _v1_status(self) -> dict | None:
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get("__autoscaling_status")
        return json.loads(raw) if raw else None

    def _monitor_args(self) -> list[str] | None:
        """The command line of this cluster's autoscaler monitor, if it runs on this machine."""
        import psutil

        pid = (self._v1_status() or {}).get("monitor_pid")
        if pid:
            try:
                return psutil.Process(int(pid)).cmdline()
            except (psutil.Error, ValueError):
                pass
        port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[-1]
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if any(part.endswith(("autoscaler/v2/monitor.py", "autoscaler/_private/monitor.py")) for part in cmdline) and any(
                part.startswith("--gcs-address=") and part.rsplit(":", 1)[-1] == port for part in cmdline
            ):
                return cmdline
        return None


def _v2_status(reply: Any) -> ScalingStatus:
    """A :class:`ScalingStatus` from autoscaler v2's ``GetClusterStatusReply``."""
    from ray.core.generated.autoscaler_pb2 import NodeStatus

    out = ScalingStatus()
    for node in reply.cluster_resource_state.node_states:
        if node.status in (NodeStatus.RUNNING, NodeStatus.IDLE):
            name = node.ray_node_type_name or "head"
            out.up[name] = out.up.get(name, 0) + 1
    state = reply.autoscaling_state
    for req in state.pending_instance_requests:
        out.pending[req.ray_node_type_name] = out.pending.get(req.ray_node_type_name, 0) + req.count
    for inst in state.pending_instances:
        if "unmanaged" not in inst.details:  # the head, before the autoscaler has adopted it
            out.pending[inst.ray_node_type_name] = out.pending.get(inst.ray_node_type_name, 0) + 1
    errors = []
    for req in state.failed_instance_requests:
        out.failed[req.ray_node_type_name] = out.failed.get(req.ray_node_type_name, 0) + req.count
        errors.append(f"{req.ray_node_type_name}: {' '.join(req.reason.split())[:300]}")
    out.error = "; ".join(errors) or None
    for constraint in state.infeasible_cluster_resource_constraints:
        out.infeasible += [dict(r.request.resources_bundle) for r in constraint.resource_requests]
    out.infeasible += [dict(r.resources_bundle) for r in state.infeasible_resource_requests]
    return out


def _v1_status(status: dict) -> ScalingStatus:
    """A :class:`ScalingStatus` from the v1 monitor's published JSON."""
    report = status.get("autoscaler_report") or {}
    out = ScalingStatus(up=dict(report.get("active_nodes") or {}))
    for name, n in (report.get("idle_nodes") or {}).items():
        out.up[name] = out.up.get(name, 0) + int(n)
    for _, node_type, *_ in report.get("pending_nodes") or []:
        out.pending[node_type] = out.pending.get(node_type, 0) + 1
    for node_type, n in (report.get("pending_launches") or {}).items():
        out.pending[node_type] = out.pending.get(node_type, 0) + int(n)
    for _, node_type in report.get("failed_nodes") or []:
        out.failed[node_type] = out.failed.get(node_type, 0) + 1
    availability = (report.get("node_availability_summary") or {}).get("node_availabilities") or {}
    errors = [
        f"{name}: {info['unavailable_node_information'].get('description')}"
        for name, info in availability.items()
        if info.get("unavailable_node_information")
    ]
    from ray.experimental.internal_kv import _internal_kv_get

    crashed = _internal_kv_get("__autoscaling_error")
    if crashed:
        errors.append(" ".join(crashed.decode(errors="replace").split())[:500])
    out.error = "; ".join(errors) or None
    return out
