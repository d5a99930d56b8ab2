"""Hold a stage's need on an autoscaling cluster: ask, wait while nodes start, withdraw at the end.

A cluster started from ``cluster/*.yaml`` (or KubeRay) holds its GPU workers at zero nodes:
the GPUs a stage needs do not exist yet when the stage starts. :func:`hold` turns a stage's
:class:`~gre_ray.runner.resources.Need` into a request to the cluster's autoscaler, logs one
line whenever the wait changes (nodes pending, nodes up, resources the cluster has), goes on
when the cluster holds the need, and withdraws its request when the stage ends so idle nodes
can scale down.

What can never be met fails at once: against the node types when they are known
(:func:`~gre_ray.runner.resources.infeasible`), else as soon as the autoscaler itself reports
the request infeasible. What could be met but is not within the wait fails with the
autoscaler's last error in the message (:class:`ResourceWaitError`); the run resumes from that
stage when run again. A cluster without an autoscaler (a local Ray, ``ray start`` by hand)
keeps the immediate check: a need larger than the cluster's resources is a ConfigError.

Plain Python against the :class:`Cluster` protocol; ``gre_ray/wiring/autoscale.py`` implements
it with Ray's autoscaler state for both autoscaler versions.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from gre_ray.errors import ConfigError, UserError
from gre_ray.runner.resources import ClusterLimits, Need, covers, fmt, infeasible

log = logging.getLogger("gre_ray")

DEFAULT_WAIT_S = 900.0
POLL_S = 1.0


class ResourceWaitError(UserError):
    """The autoscaler did not provide a need in time (the run can be resumed)."""


@dataclass
class ScalingStatus:
    """What the autoscaler reports: nodes by type, pending and failed launches, its last error,
    and the requested bundles it found no node type for."""

    up: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    infeasible: list[dict[str, float]] = field(default_factory=list)


class Cluster(Protocol):
    """What :func:`hold` needs of a cluster (implemented by ``wiring.autoscale.RayCluster``)."""

    def totals(self) -> dict[str, float]: ...
    def autoscales(self) -> bool: ...
    def limits(self) -> ClusterLimits | None: ...
    def status(self) -> ScalingStatus: ...
    def request(self, bundles: list[dict[str, float]]) -> None: ...


def check(need: Need, cluster: Cluster) -> ClusterLimits | None:
    """Fail at once when ``need`` can never run; without an autoscaler, when it cannot run now.

    Returns:
        The autoscaler's limits (None: unknown, or the cluster has no autoscaler).

    Raises:
        ConfigError: one line naming the setting, the need and the cluster's maximum.
    """
    limits = cluster.limits()
    if limits is not None:
        refuse_infeasible(need, limits)
        return limits
    if cluster.autoscales():
        return None
    have = cluster.totals()
    if not covers(have, need):
        raise ConfigError(
            f"{need.setting}: {need.describe()} need {fmt(need.total())}, but the Ray cluster has "
            f"{fmt({k: have.get(k, 0.0) for k in need.bundle})} and no autoscaler"
        )
    return None


def check_needs(needs: list[Need], cluster: Cluster) -> None:
    """Refuse, when a run starts, needs that the cluster's node types can never meet.

    Without known node types nothing is checked here: each stage checks when it starts (the
    cluster may have grown by then, or its autoscaler reports the request infeasible).

    Raises:
        ConfigError: the first need no cluster of these node types can ever meet.
    """
    limits = cluster.limits()
    if limits is None:
        return
    log.info("autoscaling cluster: %s", limits.describe())
    for need in needs:
        refuse_infeasible(need, limits)


def refuse_infeasible(need: Need, limits: ClusterLimits) -> None:
    """Raise a one-line ConfigError when ``need`` can never be met under ``limits``."""
    reason = infeasible(need, limits)
    if reason:
        raise ConfigError(reason)


class _Requests:
    """The needs of the stages running now, in any thread; the autoscaler gets their union."""

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
def hold(
    need: Need,
    cluster: Cluster,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold ``need`` for the duration of the block: ask the autoscaler, wait, withdraw at the end.

    Raises:
        ConfigError: the need can never be met (known node types, or the autoscaler's own
            infeasible report), or, without an autoscaler, is not met now.
        ResourceWaitError: the autoscaler did not provide it within ``wait_s``.
    """
    limits = check(need, cluster)
    if (limits is None and not cluster.autoscales()) or not need.bundle:
        yield
        return
    wanted = need.count or (limits.max_units(need) if limits else need.min_count)
    count = max(need.min_count, min(wanted, limits.max_units(need)) if limits else wanted)
    bundles = [dict(need.bundle) for _ in range(count)]
    _REQUESTS.push(cluster, bundles)
    try:
        _wait(need, cluster, wait_s, poll_s, clock, sleep)
        yield
    finally:
        _REQUESTS.pop(cluster, bundles)
        log.info("%s: resource request withdrawn", need.setting)


def _wait(need: Need, cluster: Cluster, wait_s: float, poll_s: float, clock, sleep) -> None:
    started = clock()
    last_line = None
    while True:
        status = cluster.status()
        have = cluster.totals()
        if covers(have, need):
            if last_line is not None:
                log.info("%s: cluster ready after %.0fs: %s", need.setting, clock() - started, _have(have, need))
            return
        if any(_same(bundle, need.bundle) for bundle in status.infeasible):
            raise ConfigError(
                f"{need.setting}: {need.describe()}: the autoscaler reports {fmt(need.bundle)} infeasible "
                f"(no node type it can launch holds it; cluster has {_have(have, need)})"
            )
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


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    keys = {k for k, v in a.items() if v} | {k for k, v in b.items() if v}
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) < 1e-9 for k in keys)


def _nodes(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()) if n) or "none"


def _have(have: dict[str, float], need: Need) -> str:
    return fmt({k: have.get(k, 0.0) for k in need.bundle})
