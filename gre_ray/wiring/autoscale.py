"""Resource needs of Ray stages, and the autoscaler that meets them.

A cluster started from ``cluster/*.yaml`` holds its GPU workers at ``min_workers: 0``: the
GPUs a stage needs do not exist yet when the stage starts. :func:`resources` turns a stage's
need (``Need``: so many bundles of ``{"CPU": c, "GPU": g}``, named by the config key that
asked for them) into a request to Ray's autoscaler (``request_resources``, sent through the
autoscaling coordinator that Ray Data and Ray Train share, see :meth:`RayCluster.request`),
logs one line whenever the wait changes (nodes pending, nodes up, resources the cluster has),
goes on when the cluster holds the need, and withdraws its request when the stage ends so
idle nodes can scale down.

What can never be met fails at once (:func:`check`): a bundle larger than every node type, or
more than the node types' ``max_workers`` can ever hold (a sum over resources, so it never
refuses a need a cluster at its largest could hold). What could be met but is not within
``run.resource_wait_s`` fails with the autoscaler's last error in the message
(:class:`ResourceWaitError`); the run resumes from that stage when run again.

A cluster without an autoscaler (a local Ray, ``ray start`` by hand) keeps the immediate
check: a need larger than the cluster's resources is a ConfigError.

The node types come from the autoscaler: the cluster config it reports to the GCS
(autoscaler v2, KubeRay) or the YAML of the v1 monitor running on the head (named by the
status the monitor publishes; ``ray up`` and ``ray start --autoscaling-config`` both run it).
Everything but :class:`RayCluster` is plain Python, testable without Ray.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import yaml

from gre_ray.errors import ConfigError, UserError

log = logging.getLogger("gre_ray")

DEFAULT_WAIT_S = 900.0
POLL_S = 1.0
_wait_s = DEFAULT_WAIT_S


class ResourceWaitError(UserError):
    """The autoscaler did not provide a need in time (the run can be resumed)."""


@dataclass(frozen=True)
class Need:
    """What a stage's work asks of the cluster.

    Attributes:
        setting: the config key that asks (``contrastive.scaling``), for messages.
        unit: what one bundle is for (``worker``, ``actor``, ``trial``).
        bundle: resources of one unit, e.g. ``{"CPU": 1, "GPU": 0.5}``.
        count: units wanted at once (requested from the autoscaler).
        min_count: units without which the work cannot start (Train's gang: all workers).
    """

    setting: str
    unit: str
    bundle: dict[str, float]
    count: int = 1
    min_count: int = 1

    def __post_init__(self) -> None:
        bundle = {k: float(v) for k, v in self.bundle.items() if v}
        object.__setattr__(self, "bundle", bundle)
        object.__setattr__(self, "min_count", max(1, min(self.min_count, self.count)))

    def total(self, n: int | None = None) -> dict[str, float]:
        n = self.min_count if n is None else n
        return {k: v * n for k, v in self.bundle.items()}

    def describe(self, n: int | None = None) -> str:
        n = self.min_count if n is None else n
        return f"{n} {self.unit}(s) x {fmt(self.bundle)}"


@dataclass(frozen=True)
class NodeType:
    """One node type of the autoscaler: its resources and how many nodes it may have."""

    name: str
    resources: dict[str, float]
    max_nodes: int | None  # None: unbounded by the node type


@dataclass(frozen=True)
class ClusterLimits:
    """The node types of an autoscaling cluster and its cap on worker nodes.

    Attributes:
        node_types: every node type, the head's included.
        max_workers: the cap on worker nodes over all types (None: only the types' own caps).
        head: the head's node type (always one node, outside ``max_workers``).
    """

    node_types: tuple[NodeType, ...]
    max_workers: int | None = None
    head: str | None = None

    def max_total(self, resource: str) -> float:
        """The most of ``resource`` the cluster can ever hold (``inf`` when unbounded)."""
        budget = math.inf if self.max_workers is None else self.max_workers
        total = 0.0
        workers = []
        for node in self.node_types:
            if node.name == self.head:
                total += node.resources.get(resource, 0.0)
                workers.append(NodeType(node.name, node.resources, None if node.max_nodes is None else node.max_nodes - 1))
            else:
                workers.append(node)
        for node in sorted(workers, key=lambda t: -t.resources.get(resource, 0.0)):
            per_node = node.resources.get(resource, 0.0)
            if per_node <= 0 or budget <= 0:
                continue
            n = budget if node.max_nodes is None else min(node.max_nodes, budget)
            if math.isinf(n):
                return math.inf
            total += n * per_node
            budget -= n
        return total

    def largest(self, resource: str) -> tuple[float, str]:
        """The most of ``resource`` one node type has, and that type's name."""
        best = max(self.node_types, key=lambda t: t.resources.get(resource, 0.0), default=None)
        return (best.resources.get(resource, 0.0), best.name) if best else (0.0, "none")

    def fits_one_node(self, bundle: dict[str, float]) -> bool:
        return any(
            (t.max_nodes is None or t.max_nodes > 0) and all(t.resources.get(k, 0.0) >= v for k, v in bundle.items())
            for t in self.node_types
        )

    def max_units(self, need: Need) -> int:
        """How many of ``need``'s bundles the cluster at its largest can hold (by resource sums)."""
        units = [self.max_total(k) / v for k, v in need.bundle.items()]
        best = min(units, default=math.inf)
        return need.count if math.isinf(best) else int(best + 1e-9)


def parse_limits(config: dict[str, Any]) -> ClusterLimits | None:
    """The limits of a ``ray up`` / fake-multinode cluster YAML (already parsed).

    Returns:
        None when the config has no node types with explicit resources (a node type whose
        resources the cloud fills in at launch is counted as unknown: no early refusal).
    """
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    parsed = []
    for name, spec in types.items():
        if "resources" not in (spec or {}):
            return None
        max_nodes = spec.get("max_workers", config.get("max_workers"))
        count = None if max_nodes is None else int(max_nodes) + (1 if name == head else 0)
        parsed.append(NodeType(name, {k: float(v) for k, v in spec["resources"].items()}, count))
    if not parsed:
        return None
    cap = config.get("max_workers")
    return ClusterLimits(tuple(parsed), None if cap is None else int(cap), head)


def infeasible(need: Need, limits: ClusterLimits) -> str | None:
    """Why ``need`` can never be met on a cluster with ``limits`` (None: it can)."""
    if not need.bundle:
        return None
    if not limits.fits_one_node(need.bundle):
        short = [k for k, v in need.bundle.items() if limits.largest(k)[0] < v]
        if short:
            most, name = limits.largest(short[0])
            largest = f"most {short[0]} on one node: {most:g}, {name}"
        else:
            largest = "no node type has all of it at once"
        return (
            f"{need.setting}: one {need.unit} asks {fmt(need.bundle)}, more than any node type of the cluster "
            f"has ({largest})"
        )
    for key, amount in need.total().items():
        most = limits.max_total(key)
        if amount > most + 1e-9:
            return (
                f"{need.setting}: {need.describe()} need {amount:g} {key}, but the cluster can hold at most "
                f"{most:g} {key} ({_capacity(limits, key)})"
            )
    return None


def covers(have: dict[str, float], need: Need, n: int | None = None) -> bool:
    return all(have.get(k, 0.0) + 1e-9 >= v for k, v in need.total(n).items())


def fmt(resources: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(resources.items())) + "}"


def _capacity(limits: ClusterLimits, key: str) -> str:
    parts = [
        f"{t.name}: {'unbounded' if t.max_nodes is None else t.max_nodes} x {t.resources.get(key, 0):g}"
        for t in limits.node_types if t.resources.get(key, 0) > 0
    ]
    cap = "" if limits.max_workers is None else f"; max_workers {limits.max_workers}"
    return ", ".join(parts) + cap


@dataclass
class ScalingStatus:
    """What the autoscaler reports: nodes by type, pending launches, its last error."""

    up: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class Cluster(Protocol):
    """What :func:`resources` needs of a cluster (implemented by :class:`RayCluster`)."""

    def totals(self) -> dict[str, float]: ...
    def limits(self) -> ClusterLimits | None: ...
    def status(self) -> ScalingStatus: ...
    def request(self, bundles: list[dict[str, float]]) -> None: ...


def configure(wait_s: float) -> None:
    """Set how long :func:`resources` waits for the autoscaler (``run.resource_wait_s``)."""
    global _wait_s
    _wait_s = float(wait_s)


def check(need: Need, cluster: Cluster | None = None) -> ClusterLimits | None:
    """Fail at once when ``need`` can never run; without an autoscaler, when it cannot run now.

    Returns:
        The autoscaler's limits (None: the cluster has no autoscaler).

    Raises:
        ConfigError: one line naming the setting, the need and the cluster's maximum.
    """
    cluster = cluster or RayCluster()
    limits = cluster.limits()
    if limits is not None:
        refuse_infeasible(need, limits)
        return limits
    have = cluster.totals()
    if not covers(have, need):
        raise ConfigError(
            f"{need.setting}: {need.describe()} need {fmt(need.total())}, but the Ray cluster has "
            f"{fmt({k: have.get(k, 0.0) for k in need.bundle})} and no autoscaler"
        )
    return None


def train_need(scaling: Any, what: str) -> Need:
    """Ray Train's gang: every worker (``cpus_per_worker`` CPUs, one GPU with ``use_gpu``) at once."""
    bundle = {"CPU": scaling.cpus_per_worker, "GPU": 1.0 if scaling.use_gpu else 0.0}
    return Need(f"{what}.scaling", "worker", bundle, scaling.num_workers, scaling.num_workers)


def embed_need(actors: int, num_gpus: float, setting: str | None = None) -> Need:
    """The embedding actor pool: one CPU and ``num_gpus`` per actor, the whole pool at once."""
    n = max(1, actors)
    setting = setting or ("embed.num_gpus" if num_gpus else "embed.actors")
    return Need(setting, "actor", {"CPU": 1.0, "GPU": num_gpus}, n, n)


def trial_need(resources: Any, setting: str = "benchmark.resources") -> Need:
    """Tune trials: ``cpus`` and ``gpus`` each; ``max_concurrent_trials`` wanted, one to start."""
    bundle = {"CPU": resources.cpus, "GPU": resources.gpus}
    return Need(setting, "trial", bundle, max(1, resources.max_concurrent_trials), 1)


def benchmark_needs(bench: Any) -> list[Need]:
    """A GRE-B grid's needs: its trials and, when it embeds, its encoder actors."""
    needs = [trial_need(bench.resources)]
    if bench.embeddings:
        needs.append(embed_need(bench.embed_actors or 1, bench.embed_gpus, "benchmark.embed_gpus"))
    return needs


def config_needs(config: Any) -> list[Need]:
    """The needs of the Ray stages a run config runs (for the check when the run starts)."""
    stages = {str(getattr(s, "value", s)) for s in config.run.stages}
    needs = []
    if "embed" in stages:
        needs.append(embed_need(config.embed.actors or 1, config.embed.num_gpus))
    for name in ("mlm", "contrastive"):
        if name in stages and getattr(config, name).scaling.num_workers > 0:
            needs.append(train_need(getattr(config, name).scaling, name))
    if "benchmark" in stages:
        needs += benchmark_needs(config.benchmark)
    return needs


def check_config(config: Any, cluster: Cluster | None = None) -> None:
    """Refuse, when the run starts, a config an autoscaling cluster can never run.

    Without an autoscaler nothing is checked here: each stage checks the cluster's
    resources when it starts, as the cluster may have grown by then.

    Raises:
        ConfigError: the first need no cluster of these node types can ever meet.
    """
    cluster = cluster or RayCluster()
    limits = cluster.limits()
    if limits is None:
        return
    log.info("autoscaling cluster: %s", "; ".join(
        f"{t.name} {fmt(t.resources)} x {'unbounded' if t.max_nodes is None else t.max_nodes}" for t in limits.node_types
    ))
    for need in config_needs(config):
        refuse_infeasible(need, limits)


def refuse_infeasible(need: Need, limits: ClusterLimits) -> None:
    """Raise a one-line ConfigError when ``need`` can never be met under ``limits``."""
    reason = infeasible(need, limits)
    if reason:
        raise ConfigError(reason)


def current_limits() -> ClusterLimits | None:
    """The limits of the Ray cluster this process joined; None without Ray or an autoscaler."""
    import sys

    if "ray" not in sys.modules or not sys.modules["ray"].is_initialized():
        return None
    return RayCluster().limits()


class _Requests:
    """The needs of the stages running now; the autoscaler gets their union (one request)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[list[dict[str, float]]] = []

    def push(self, cluster: Cluster, bundles: list[dict[str, float]]) -> None:
        with self.lock:
            self.active.append(bundles)
            cluster.request([b for group in self.active for b in group])

    def pop(self, cluster: Cluster, bundles: list[dict[str, float]]) -> None:
        with self.lock:
            self.active.remove(bundles)
            cluster.request([b for group in self.active for b in group])


_REQUESTS = _Requests()


@contextmanager
def resources(
    need: Need,
    cluster: Cluster | None = None,
    *,
    wait_s: float | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold ``need`` for the duration of the block: ask the autoscaler, wait, withdraw at the end.

    Args:
        need: what the work inside the block asks of the cluster.
        cluster: the cluster (default: the Ray cluster this process joined).
        wait_s: how long to wait for the autoscaler (default: ``run.resource_wait_s``).

    Raises:
        ConfigError: the need can never be met (or, without an autoscaler, is not met now).
        ResourceWaitError: the autoscaler did not provide it within ``wait_s``.
    """
    cluster = cluster or RayCluster()
    limits = check(need, cluster)
    if limits is None or not need.bundle:
        yield
        return
    count = max(need.min_count, min(need.count, limits.max_units(need)))
    bundles = [dict(need.bundle) for _ in range(count)]
    _REQUESTS.push(cluster, bundles)
    try:
        _wait(need, cluster, _wait_s if wait_s is None else wait_s, poll_s, clock, sleep)
        yield
    finally:
        _REQUESTS.pop(cluster, bundles)
        log.info("%s: resource request withdrawn", need.setting)


def _wait(need: Need, cluster: Cluster, wait_s: float, poll_s: float, clock, sleep) -> None:
    started = clock()
    last_line = None
    status = ScalingStatus()
    while True:
        status = cluster.status()
        have = cluster.totals()
        if covers(have, need):
            if last_line is not None:
                log.info("%s: cluster ready after %.0fs: %s", need.setting, clock() - started, _have(have, need))
            return
        line = (
            f"{need.setting}: waiting for {need.describe()}: nodes pending {_nodes(status.pending)}; "
            f"nodes up {_nodes(status.up)}; resources available {_have(have, need)}"
        )
        if status.failed:
            line += f"; failed launches {_nodes(status.failed)}"
        if line != last_line:
            log.info("%s", line)
            last_line = line
        if clock() - started >= wait_s:
            raise ResourceWaitError(
                f"{need.setting}: {need.describe()} not available after {wait_s:g}s "
                f"(cluster has {_have(have, need)}; autoscaler's last error: {status.error or 'none reported'}); "
                "run again to resume, or raise run.resource_wait_s"
            )
        sleep(poll_s)


def _nodes(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()) if n) or "none"


def _have(have: dict[str, float], need: Need) -> str:
    return fmt({k: have.get(k, 0.0) for k in need.bundle})


_EXPIRE_S, _REFRESH_S = 120.0, 30.0
_COORDINATOR = None


def _coordinator():
    """This process's client of Ray's autoscaling coordinator (None when Ray has none)."""
    global _COORDINATOR
    if _COORDINATOR is None:
        try:
            from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
                DefaultAutoscalingCoordinator,
            )
        except ImportError:
            return None
        import os

        _COORDINATOR = DefaultAutoscalingCoordinator(f"gre_ray-{os.getpid()}")
    return _COORDINATOR


class RayCluster:
    """The Ray cluster this process joined, seen through its autoscaler's published state."""

    def totals(self) -> dict[str, float]:
        import ray

        return dict(ray.cluster_resources())

    def limits(self) -> ClusterLimits | None:
        import ray._private.state

        reported = ray._private.state.state.get_cluster_config()  # autoscaler v2 / KubeRay
        if reported is not None and reported.node_group_configs:
            types = tuple(
                NodeType(g.name, {k: float(v) for k, v in g.resources.items()}, None if g.max_count < 0 else g.max_count)
                for g in reported.node_group_configs
            )
            return ClusterLimits(types)
        path = self._monitor_config()
        if path is None:
            return None
        try:
            return parse_limits(yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError):
            return None

    def status(self) -> ScalingStatus:
        report = (self._v1_status() or {}).get("autoscaler_report") or {}
        out = ScalingStatus(up=dict(report.get("active_nodes") or {}))
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

    # One refresher per process (the coordinator knows this process as one requester).
    _refresher: tuple[threading.Event, threading.Thread] | None = None

    def request(self, bundles: list[dict[str, float]]) -> None:
        """Replace this process's request to the autoscaler with ``bundles`` (empty: withdraw).

        Ray Data and Ray Train send their requests through Ray's autoscaling coordinator, a
        named actor that merges the requests of all requesters and re-sends the merge to
        the autoscaler every 20 s, overwriting any ``request_resources`` made beside it. So
        the request goes to that coordinator too, refreshed before it expires, and is
        cancelled there when withdrawn.
        """
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

    def _v1_status(self) -> dict | None:
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get("__autoscaling_status")
        return json.loads(raw) if raw else None

    def _monitor_config(self) -> str | None:
        """The ``--autoscaling-config`` of the v1 monitor, when it runs on this machine (the head)."""
        import psutil

        pid = (self._v1_status() or {}).get("monitor_pid")
        if not pid:
            return None
        try:
            cmdline = psutil.Process(int(pid)).cmdline()
        except (psutil.Error, ValueError):
            return None
        for arg in cmdline:
            if arg.startswith("--autoscaling-config="):
                return arg.split("=", 1)[1]
        return None
