"""Resource needs and the autoscaler (gre_ray.wiring.autoscale).

The waiting logic runs against :class:`Autoscaler`, a fake of the interface the module reads
(cluster totals, node-type limits, scaling status, resource requests) that launches nodes the
way Ray's autoscaler does: a request for bundles the cluster lacks starts nodes of a type
that holds them, pending for a few polls, then up. Ray's own ``AutoscalingCluster`` does not
fit the default suite: it runs ``ray stop --force`` (every Ray of the user, other test
sessions' included) and its base YAML is not in the wheel. The real autoscaler is exercised
by the slow test in ``test_autoscale_cluster.py``; the limits are read from the real YAMLs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from gre_ray.errors import ConfigError
from gre_ray.root_config import load_config
from gre_ray.wiring import autoscale
from gre_ray.wiring.accelerator import SIMULATED_GPUS_ENV, NoCudaDeviceError, gpu_device
from gre_ray.pipeline import stage_needs
from gre_ray.runner.cluster_spec import ray_up_limits as parse_limits
from gre_ray.runner.resources import ClusterLimits, Need, NodeType, embed_need, trial_need
from gre_ray.runner.scaling import ResourceWaitError, ScalingStatus

CLUSTER = Path(__file__).parents[2] / "cluster"
SMOKE = "configs/demo.smoke.yaml"


def limits_of(name: str) -> ClusterLimits:
    limits = parse_limits(yaml.safe_load((CLUSTER / name).read_text()))
    assert limits is not None
    return limits


class Autoscaler:
    """A fake autoscaling cluster: a request launches nodes that are pending for ``delay`` polls."""

    def __init__(self, limits: ClusterLimits | None, head: dict[str, float], delay: int = 2, error: str | None = None):
        self._limits = limits
        self.nodes: list[tuple[str, dict[str, float]]] = [("head", head)]
        self.pending: list[tuple[str, dict[str, float], int]] = []
        self.requests: list[list[dict[str, float]]] = []
        self.delay, self.error = delay, error

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for _, res in self.nodes:
            for k, v in res.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def limits(self) -> ClusterLimits | None:
        return self._limits

    def autoscales(self) -> bool:
        return self._limits is not None

    def status(self) -> ScalingStatus:
        # one poll passes: pending nodes come closer to up
        still = []
        for name, res, left in self.pending:
            if left <= 1:
                self.nodes.append((name, res))
            else:
                still.append((name, res, left - 1))
        self.pending = still
        up: dict[str, int] = {}
        for name, _ in self.nodes:
            up[name] = up.get(name, 0) + 1
        pending: dict[str, int] = {}
        for name, _, _ in self.pending:
            pending[name] = pending.get(name, 0) + 1
        return ScalingStatus(up=up, pending=pending, error=self.error)

    def request(self, bundles: list[dict[str, float]]) -> None:
        self.requests.append(bundles)
        if self.error or not bundles:
            return
        have = self.totals()
        for res in [r for _, r, _ in self.pending]:
            for k, v in res.items():
                have[k] = have.get(k, 0.0) + v
        want = {k: sum(b.get(k, 0.0) for b in bundles) for k in bundles[0]}
        while any(have.get(k, 0.0) < v for k, v in want.items()):
            kind = next(t for t in self._limits.node_types if all(t.resources.get(k, 0) >= v for k, v in bundles[0].items()))
            self.pending.append((kind.name, dict(kind.resources), self.delay))
            for k, v in kind.resources.items():
                have[k] = have.get(k, 0.0) + v


def needs_of(config) -> list[Need]:
    return [need for _, needs in stage_needs(config) for need in needs]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_limits_of_the_local_cluster_yaml():
    limits = limits_of("local-autoscale.yaml")
    assert limits.max_total("GPU") == 2  # ray.worker.gpu: 2 nodes x 1 GPU
    assert limits.max_total("CPU") == 2 + 2 * 2 + 2 * 2  # head + both worker groups at their max (4 <= max_workers)
    assert limits.largest("GPU") == (1.0, "ray.worker.gpu")
    assert limits_of("aws-gpu.yaml").max_total("GPU") == 8  # ray.worker.gpu: 8 x 1 (gre.yaml trains on 8)


def test_the_global_max_workers_caps_the_sum():
    limits = ClusterLimits(
        (NodeType("head", {"CPU": 2}, 1), NodeType("gpu", {"CPU": 8, "GPU": 1}, 4), NodeType("cpu", {"CPU": 16}, 4)),
        max_workers=3, head="head",
    )
    assert limits.max_total("GPU") == 3
    assert limits.max_total("CPU") == 2 + 3 * 16  # the 16-CPU type fills the 3 worker slots
    assert parse_limits({"available_node_types": {"w": {"node_config": {}}}}) is None  # resources unknown


@pytest.mark.parametrize(
    "need, message",
    [
        (Need("benchmark.resources", "trial", {"CPU": 1, "GPU": 2}),
         "benchmark.resources: one trial asks {CPU: 1, GPU: 2}, more than any node type of the cluster has "
         "(most GPU on one node: 1, ray.worker.gpu)"),
        (Need("contrastive.scaling", "worker", {"CPU": 1, "GPU": 1}, 3, 3),
         "contrastive.scaling: 3 worker(s) x {CPU: 1, GPU: 1} need 3 GPU, but the cluster can hold at most 2 GPU "
         "(ray.worker.gpu: 2 x 1; max_workers 4)"),
    ],
)
def test_a_need_that_can_never_be_met_fails_at_once_naming_setting_need_and_maximum(need, message):
    cluster = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 2})
    with pytest.raises(ConfigError) as err:
        with autoscale.resources(need, cluster, wait_s=600, sleep=pytest.fail):
            pytest.fail("entered")
    assert str(err.value) == message
    assert cluster.requests == []


def test_gpu_nodes_are_requested_from_zero_waited_for_logged_and_withdrawn(caplog):
    cluster, clock = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 2}, delay=3), Clock()
    need = Need("contrastive.scaling", "worker", {"CPU": 1, "GPU": 1}, 2, 2)
    with caplog.at_level(logging.INFO, logger="gre_ray"):
        with autoscale.resources(need, cluster, wait_s=60, clock=clock, sleep=clock.sleep):
            assert cluster.totals()["GPU"] == 2
            assert cluster.requests == [[{"CPU": 1.0, "GPU": 1.0}] * 2]
    assert cluster.requests[-1] == []
    lines = [r.getMessage() for r in caplog.records]
    waiting = [line for line in lines if "waiting for" in line]
    assert waiting[0] == (
        "contrastive.scaling: waiting for 2 worker(s) x {CPU: 1, GPU: 1}: nodes pending 2 ray.worker.gpu; "
        "nodes up 1 head; resources available {CPU: 2, GPU: 0}"
    )
    assert len(waiting) == len(set(waiting)) == 1  # one line per change: nothing changed until the nodes came up
    assert "contrastive.scaling: cluster ready after 2s: {CPU: 6, GPU: 2}" in lines
    assert lines[-1] == "contrastive.scaling: resource request withdrawn"


def test_a_provider_that_cannot_launch_stops_the_stage_after_the_wait_with_its_error():
    error = "ray.worker.gpu: InsufficientInstanceCapacity: no g5.2xlarge in us-west-2a"
    cluster, clock = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 2}, error=error), Clock()
    need = Need("benchmark.resources", "trial", {"CPU": 1, "GPU": 0.5})
    with pytest.raises(ResourceWaitError) as err:
        with autoscale.resources(need, cluster, wait_s=30, clock=clock, sleep=clock.sleep):
            pytest.fail("entered")
    assert str(err.value) == (
        "benchmark.resources: 1 trial(s) x {CPU: 1, GPU: 0.5} not available after 30s (cluster has {CPU: 2, GPU: 0}; "
        f"autoscaler's last error: {error}); run again to resume, or raise run.resource_wait_s"
    )
    assert clock.now == 30
    assert cluster.requests == [[{"CPU": 1.0, "GPU": 0.5}], []]


def test_without_an_autoscaler_the_check_is_immediate_and_nothing_is_requested():
    cluster = Autoscaler(None, {"CPU": 2})
    with autoscale.resources(Need("embed.actors", "actor", {"CPU": 1}, 2, 2), cluster, sleep=pytest.fail):
        pass
    with pytest.raises(ConfigError, match=r"^embed.num_gpus: 2 actor\(s\) x \{CPU: 1, GPU: 0.5\} need \{CPU: 2, GPU: 1\}, "
                       r"but the Ray cluster has \{CPU: 2, GPU: 0\} and no autoscaler$"):
        with autoscale.resources(embed_need(2, 0.5), cluster, sleep=pytest.fail):
            pass
    assert cluster.requests == []


def test_concurrent_needs_are_requested_together_and_withdrawn_one_by_one():
    cluster = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 8, "GPU": 2})
    first, second = Need("a", "trial", {"CPU": 1, "GPU": 1}), Need("b", "actor", {"CPU": 2})
    with autoscale.resources(first, cluster):
        with autoscale.resources(second, cluster):
            pass
    assert cluster.requests == [[{"CPU": 1.0, "GPU": 1.0}], [{"CPU": 1.0, "GPU": 1.0}, {"CPU": 2.0}],
                                [{"CPU": 1.0, "GPU": 1.0}], []]


def test_the_request_is_capped_at_what_the_cluster_can_ever_hold():
    cluster = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 2}, delay=1)
    need = trial_need(type("R", (), {"cpus": 1, "gpus": 0.5, "max_concurrent_trials": 8})())
    clock = Clock()
    with autoscale.resources(need, cluster, clock=clock, sleep=clock.sleep):
        pass
    assert len(cluster.requests[0]) == 4  # 2 GPUs / 0.5 per trial, not 8


def test_a_run_config_asking_more_than_the_node_types_have_is_refused_when_the_run_starts():
    cluster = Autoscaler(limits_of("local-autoscale.yaml"), {"CPU": 2})
    autoscale.check_needs(needs_of(load_config(SMOKE, ["embed.num_gpus=0.5", "contrastive.scaling.use_gpu=true"])), cluster)
    bad = load_config(SMOKE, ["benchmark.embed_gpus=4"])
    with pytest.raises(ConfigError, match=r"^benchmark.embed_gpus: one actor asks \{CPU: 1, GPU: 4\}"):
        autoscale.check_needs(needs_of(bad), cluster)
    many = load_config(SMOKE, ["contrastive.scaling.use_gpu=true", "contrastive.scaling.num_workers=3"])
    with pytest.raises(ConfigError, match=r"^contrastive.scaling: 3 worker\(s\) .* at most 2 GPU"):
        autoscale.check_needs(needs_of(many), cluster)


def test_a_local_ray_has_no_autoscaler(ray_session):
    cluster = autoscale.RayCluster()
    assert cluster.limits() is None
    assert autoscale.current_limits() is None
    assert not cluster.autoscales()
    assert cluster.totals()["CPU"] >= 1
    assert isinstance(cluster.status(), ScalingStatus)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA device")
def test_gpu_work_without_cuda_fails_unless_the_cluster_is_simulated(monkeypatch):
    monkeypatch.delenv(SIMULATED_GPUS_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(NoCudaDeviceError, match=r"^embed actor was given a GPU by Ray \(CUDA_VISIBLE_DEVICES=0\) "
                       r"but torch .* sees no CUDA device"):
        gpu_device("embed actor")
    monkeypatch.setenv(SIMULATED_GPUS_ENV, "1")
    assert gpu_device("embed actor").type == "cpu"


def test_the_local_cluster_yaml_passes_ray_schema_and_starts_both_worker_groups_at_zero():
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((CLUSTER / "local-autoscale.yaml").read_text())
    validate_config(config)  # the fake provider's defaults file is not in the wheel: schema only
    assert config["provider"]["type"] == "external"  # Ray's fake provider by module: v2 reads no defaults file
    assert config["provider"]["module"] == "ray.autoscaler._private.fake_multi_node.node_provider.FakeMultiNodeProvider"
    workers = {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}
    assert {k: (v["min_workers"], v["resources"].get("GPU", 0)) for k, v in workers.items()} == {
        "ray.worker.cpu": (0, 0), "ray.worker.gpu": (0, 1)
    }


def test_autoscaler_v2_state_is_read_from_the_gcs_cluster_status_reply():
    from ray.core.generated.autoscaler_pb2 import GetClusterStatusReply, NodeStatus

    from gre_ray.wiring.autoscale import _v2_status

    reply = GetClusterStatusReply()
    for name, status in [("ray.head.default", NodeStatus.RUNNING), ("ray.worker.gpu", NodeStatus.IDLE),
                         ("ray.worker.gpu", NodeStatus.DEAD)]:
        node = reply.cluster_resource_state.node_states.add()
        node.ray_node_type_name, node.status = name, status
    state = reply.autoscaling_state
    pending = state.pending_instance_requests.add()
    pending.ray_node_type_name, pending.count = "ray.worker.gpu", 2
    failed = state.failed_instance_requests.add()
    failed.ray_node_type_name, failed.count, failed.reason = "ray.worker.cpu", 1, "InsufficientInstanceCapacity:\n no m6i"
    request = state.infeasible_cluster_resource_constraints.add().resource_requests.add()
    request.request.resources_bundle.update({"CPU": 1.0, "GPU": 4.0})
    request.count = 1
    assert _v2_status(reply) == ScalingStatus(
        up={"ray.head.default": 1, "ray.worker.gpu": 1}, pending={"ray.worker.gpu": 2}, failed={"ray.worker.cpu": 1},
        error="ray.worker.cpu: InsufficientInstanceCapacity: no m6i", infeasible=[{"CPU": 1.0, "GPU": 4.0}],
    )


class UnknownTypes(Autoscaler):
    """An autoscaler whose node types cannot be read here (KubeRay's sidecar): it reports what
    it cannot place as infeasible instead."""

    def __init__(self, types: ClusterLimits, head: dict[str, float], **kwargs) -> None:
        super().__init__(types, head, **kwargs)
        self.infeasible: list[dict[str, float]] = []

    def limits(self) -> ClusterLimits | None:
        return None

    def autoscales(self) -> bool:
        return True

    def status(self) -> ScalingStatus:
        status = super().status()
        status.infeasible = list(self.infeasible)
        return status

    def request(self, bundles: list[dict[str, float]]) -> None:
        if bundles and not self._limits.fits_one_node(bundles[0]):
            self.requests.append(bundles)
            self.infeasible = bundles[:1]
            return
        self.infeasible = []
        super().request(bundles)


def test_with_unknown_node_types_the_autoscaler_is_asked_and_waited_for():
    cluster, clock = UnknownTypes(limits_of("local-autoscale.yaml"), {"CPU": 2}, delay=2), Clock()
    need = Need("embed.num_gpus", "actor", {"CPU": 1, "GPU": 0.5}, 2, 2)
    with autoscale.resources(need, cluster, wait_s=60, clock=clock, sleep=clock.sleep):
        assert cluster.totals()["GPU"] >= 1
    assert cluster.requests[0] == [{"CPU": 1.0, "GPU": 0.5}] * 2 and cluster.requests[-1] == []


def test_with_unknown_node_types_the_autoscalers_infeasible_report_refuses_in_one_line():
    cluster, clock = UnknownTypes(limits_of("local-autoscale.yaml"), {"CPU": 2}), Clock()
    need = Need("benchmark.resources", "trial", {"CPU": 1, "GPU": 2})
    with pytest.raises(ConfigError) as err:
        with autoscale.resources(need, cluster, wait_s=600, clock=clock, sleep=clock.sleep):
            pytest.fail("entered")
    assert str(err.value) == (
        "benchmark.resources: 1 trial(s) x {CPU: 1, GPU: 2}: the autoscaler reports {CPU: 1, GPU: 2} infeasible "
        "(no node type it can launch holds it; cluster has {CPU: 2, GPU: 0})"
    )
    assert clock.now == 0  # refused at the first report, not after the wait
    assert cluster.requests[-1] == []  # and the request withdrawn


def test_the_monitor_config_path_is_expanded_like_the_monitor_does(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cluster = autoscale.RayCluster()
    monkeypatch.setattr(cluster, "_monitor_args", lambda: ["monitor.py", "--autoscaling-config=~/ray_bootstrap_config.yaml"])
    assert cluster.autoscaling_config() == str(tmp_path / "ray_bootstrap_config.yaml")
