"""What a stage asks of a Ray cluster, what a cluster can ever hold, and whether one fits the other.

Plain Python, shared by the two places that judge a fit: the runtime check when a run joins
an autoscaling cluster (``gre_ray/wiring/autoscale.py``, against the node types the running
autoscaler was started with) and ``gre-ray plan`` (offline, against a cluster YAML or KubeRay
manifest read by :mod:`gre_ray.runner.cluster_spec`). Each stage states its needs beside its
preflight (``Stage.needs(config)``), so neither place keeps a list of stages.

A need is a number of equal bundles (``{"CPU": 1, "GPU": 0.5}``) named by the config key that
asked for them. It never fits when one bundle is larger than every node type, or when the
cluster at its largest (every node type at its ``max_workers``, under the cluster-wide cap)
holds fewer of its resources than ``min_count`` bundles need: a sum over resources, so a
need that a cluster at its largest could hold is never refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Accelerators by whether they compute bfloat16 natively (NVIDIA compute capability 8.0 and up).
_BF16_NATIVE = {
    "A10", "A10G", "A100", "A30", "A40", "A6000", "L4", "L40", "L40S", "H100", "H200", "GH200", "B200", "GB200",
}
_NO_BF16 = {"T4", "V100", "P100", "P4", "P40", "K80", "M60"}


@dataclass(frozen=True)
class Need:
    """What a stage's work asks of the cluster.

    Attributes:
        setting: the config key that asks (``contrastive.scaling``), for messages.
        unit: what one bundle is for (``worker``, ``actor``, ``trial``).
        bundle: resources of one unit, e.g. ``{"CPU": 1, "GPU": 0.5}``.
        count: units wanted at once (requested from the autoscaler); 0: as many as fit.
        min_count: units without which the work cannot start (Train's gang: all workers).
        precision: the half precision the work computes in on its GPUs (``bf16``, ``fp16``),
            and the setting that asks for it, e.g. ``("bf16", "embed.encoder.dtype")``.
    """

    setting: str
    unit: str
    bundle: dict[str, float]
    count: int = 1
    min_count: int = 1
    precision: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        bundle = {k: float(v) for k, v in self.bundle.items() if v}
        object.__setattr__(self, "bundle", bundle)
        object.__setattr__(self, "min_count", max(1, self.min_count if not self.count else min(self.min_count, self.count)))

    def total(self, n: int | None = None) -> dict[str, float]:
        n = self.min_count if n is None else n
        return {k: v * n for k, v in self.bundle.items()}

    def describe(self, n: int | None = None) -> str:
        n = self.min_count if n is None else n
        return f"{n} {self.unit}(s) x {fmt(self.bundle)}"


@dataclass(frozen=True)
class NodeType:
    """One node type of an autoscaling cluster.

    Attributes:
        name: the node type's name in the cluster config.
        resources: what one node advertises to Ray.
        max_nodes: how many nodes of the type may exist (None: unbounded by the type).
        accelerator: the GPU model a node carries (``A10G``, ``T4``), where the config names it.
    """

    name: str
    resources: dict[str, float]
    max_nodes: int | None
    accelerator: str | None = None


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

    def hosts(self, bundle: dict[str, float]) -> list[NodeType]:
        """The node types one of which can hold ``bundle``."""
        return [
            t for t in self.node_types
            if (t.max_nodes is None or t.max_nodes > 0) and all(t.resources.get(k, 0.0) >= v for k, v in bundle.items())
        ]

    def fits_one_node(self, bundle: dict[str, float]) -> bool:
        return bool(self.hosts(bundle))

    def max_units(self, need: Need) -> int:
        """How many of ``need``'s bundles the cluster at its largest can hold (by resource sums)."""
        units = [self.max_total(k) / v for k, v in need.bundle.items()]
        best = min(units, default=math.inf)
        if math.isinf(best):
            return need.count or need.min_count
        return int(best + 1e-9)

    def describe(self) -> str:
        return "; ".join(
            f"{t.name} {fmt(t.resources)} x {'unbounded' if t.max_nodes is None else t.max_nodes}"
            + (f" ({t.accelerator})" if t.accelerator else "")
            for t in self.node_types
        )


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
                f"{most:g} {key} ({capacity(limits, key)})"
            )
    return None


def precision_issue(need: Need, limits: ClusterLimits) -> tuple[str | None, str | None]:
    """Whether the GPUs that could host ``need`` compute its half precision natively.

    Returns:
        ``(misfit, note)``: a one-line misfit when every GPU node type that could host the
        need is known to lack native bf16, and a note naming the node types whose
        accelerator is not named or not known (their precision cannot be judged).
    """
    if need.precision is None or not need.bundle.get("GPU"):
        return None, None
    precision, setting = need.precision
    if precision != "bf16":
        return None, None  # fp16 runs on every CUDA GPU the project supports
    hosts = [t for t in limits.hosts(need.bundle) if t.resources.get("GPU")]
    unknown = [t for t in hosts if bf16_native(t.accelerator) is None]
    lacking = [t for t in hosts if bf16_native(t.accelerator) is False]
    note = None
    if unknown:
        named = ", ".join(f"{t.name} ({t.accelerator})" if t.accelerator else t.name for t in unknown)
        note = f"{setting}: cannot judge bf16 on {named}: the cluster config names no accelerator this check knows"
    if hosts and len(lacking) == len(hosts):
        kinds = ", ".join(f"{t.name} ({t.accelerator})" for t in lacking)
        return (
            f"{setting}: bf16 is not native on {kinds} (pre-Ampere); set it to fp16 / float16, "
            "or use GPUs with bf16 (A10G, L4, A100, H100)",
            note,
        )
    return None, note


def bf16_native(accelerator: str | None) -> bool | None:
    """True/False for a known accelerator model, None when it is not named or not known."""
    if not accelerator:
        return None
    name = accelerator.upper()
    if name in _BF16_NATIVE:
        return True
    if name in _NO_BF16:
        return False
    return None


def covers(have: dict[str, float], need: Need, n: int | None = None) -> bool:
    return all(have.get(k, 0.0) + 1e-9 >= v for k, v in need.total(n).items())


def fmt(resources: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(resources.items())) + "}"


def capacity(limits: ClusterLimits, key: str) -> str:
    """The node types holding ``key`` and their caps, for messages."""
    parts = [
        f"{t.name}: {'unbounded' if t.max_nodes is None else t.max_nodes} x {t.resources.get(key, 0):g}"
        for t in limits.node_types if t.resources.get(key, 0) > 0
    ]
    cap = "" if limits.max_workers is None else f"; max_workers {limits.max_workers}"
    return ", ".join(parts) + cap


def train_need(scaling: Any, what: str, precision: Any = None) -> Need:
    """Ray Train's gang: every worker (``cpus_per_worker`` CPUs, one GPU with ``use_gpu``) at once."""
    bundle = {"CPU": scaling.cpus_per_worker, "GPU": 1.0 if scaling.use_gpu else 0.0}
    half = _half(precision)
    asked = (half, f"{what}.deepspeed.precision") if half and scaling.use_gpu else None
    return Need(f"{what}.scaling", "worker", bundle, scaling.num_workers, scaling.num_workers, asked)


def training_needs(settings: Any, what: str) -> list[Need]:
    """A training stage's needs: its Ray Train gang, or nothing when it trains in the driver
    (``scaling.num_workers: 0``)."""
    if settings.scaling.num_workers == 0:
        return []
    return [train_need(settings.scaling, what, settings.deepspeed.precision)]


def embed_need(actors: int, num_gpus: float, setting: str | None = None, dtype: Any = None,
               dtype_setting: str = "embed.encoder.dtype") -> Need:
    """The embedding actor pool: one CPU and ``num_gpus`` per actor, the whole pool at once."""
    n = max(1, actors)
    setting = setting or ("embed.num_gpus" if num_gpus else "embed.actors")
    half = _half(dtype)
    asked = (half, dtype_setting) if half and num_gpus else None
    return Need(setting, "actor", {"CPU": 1.0, "GPU": num_gpus}, n, n, asked)


def trial_need(resources: Any, setting: str = "benchmark.resources") -> Need:
    """Tune trials: ``cpus`` and ``gpus`` each; ``max_concurrent_trials`` wanted (0, ``auto``: as
    many as fit), one to start."""
    cap = resources.max_concurrent_trials
    count = 0 if cap == "auto" else int(cap)
    return Need(setting, "trial", {"CPU": resources.cpus, "GPU": resources.gpus}, count, 1)


def _half(value: Any) -> str | None:
    """``bf16``/``fp16`` for a half-precision dtype or DeepSpeed precision setting, else None."""
    text = str(getattr(value, "value", value) or "").lower()
    if text in ("bf16", "bfloat16"):
        return "bf16"
    if text in ("fp16", "float16", "half"):
        return "fp16"
    return None


def benchmark_needs(bench: Any) -> list[Need]:
    """A GRE-B grid's needs: its trials and, when it embeds, its encoder actors."""
    needs = [trial_need(bench.resources)]
    if bench.embeddings:
        needs.append(embed_need(bench.embed_actors or 1, bench.embed_gpus, "benchmark.embed_gpus"))
    return needs
