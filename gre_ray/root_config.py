"""The root config: one section per stage plus the ``run`` section.

Each stage's settings dataclass lives beside the code it configures; this module only
composes them, so ``configs/*.yaml`` mirror this tree one-to-one.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.config.loader import apply_overrides, build, read_yaml
from gre_ray.coreset.config import CoresetConfig
from gre_ray.demo.generator import DemoDataConfig
from gre_ray.embed.config import EmbedConfig
from gre_ray.ingest.config import IngestConfig
from gre_ray.pairs.config import PairsConfig
from gre_ray.train.config import ContrastiveConfig, MLMConfig


class StageName(str, enum.Enum):
    """The stages a run can list, in ``run.stages``."""

    DEMO_DATA = "demo_data"
    EMBED = "embed"
    CORESET = "coreset"
    PAIRS = "pairs"
    MLM = "mlm"
    CONTRASTIVE = "contrastive"
    INGEST = "ingest"
    BENCHMARK = "benchmark"


@dataclass
class RunSection:
    """Where a run lives and what it runs.

    Attributes:
        root: the run folder, a local path or a URI (``s3://bucket/runs/x``); every stage
            writes below it. A relative path is relative to the working directory.
        stages: the stages to run; the runner orders them by their inputs.
        seed: the base seed of every random choice in the run.
        resource_wait_s: how long a stage waits for the autoscaler to provide the CPUs and
            GPUs its work needs before it stops (the run resumes from that stage when rerun).
        ray_address: a Ray cluster to join; empty to use ``RAY_ADDRESS`` or start a local Ray.
        num_cpus: CPUs of the local Ray (all cores when unset); ignored on a cluster.
        dashboard: start the Ray dashboard with the local Ray.
        lease_wait_s: how long a run waits for the lease another run holds on ``root``
            (0: stop at once with one line naming the holder).
        lease_stale_s: a lease whose heartbeat is older than this is taken over with a
            warning (the holder renews it every quarter of this).
    """

    root: str = "runs/demo"
    stages: list[StageName] = field(default_factory=lambda: [StageName.DEMO_DATA])
    seed: int = 0
    resource_wait_s: float = 900.0
    ray_address: str | None = None
    num_cpus: int | None = None
    dashboard: bool = False
    lease_wait_s: float = 0.0
    lease_stale_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.root:
            raise ValueError("run.root must name a folder or URI")
        if self.lease_wait_s < 0:
            raise ValueError(f"run.lease_wait_s must be at least 0, got {self.lease_wait_s}")
        if self.lease_stale_s <= 0:
            raise ValueError(f"run.lease_stale_s must be positive, got {self.lease_stale_s}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"run.num_cpus must be at least 1, got {self.num_cpus}")
        if self.resource_wait_s <= 0:
            raise ValueError(f"run.resource_wait_s must be positive, got {self.resource_wait_s}")


@dataclass
class GreConfig:
    """Everything one ``gre-ray run`` needs."""

    run: RunSection = field(default_factory=RunSection)
    demo_data: DemoDataConfig = field(default_factory=DemoDataConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    coreset: CoresetConfig = field(default_factory=CoresetConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    mlm: MLMConfig = field(default_factory=MLMConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)


def load_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> GreConfig:
    """Load a YAML config (or the defaults when ``path`` is None) and apply ``--set`` overrides.

    Raises:
        ConfigError: a missing or malformed file, an unknown key, or a bad value; the
            message names the file or the dotted key.
    """
    data = read_yaml(Path(path)) if path is not None else {}
    apply_overrides(data, list(overrides))
    return build(GreConfig, data)
