"""Small stages for runner tests: a source, a transform of it, and a stage that can hang."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import pyarrow as pa

from gre_ray.data.storage import read_table, write_table
from gre_ray.runner.stage import Stage, StageContext


@dataclass
class SourceSettings:
    n: int = 5


@dataclass
class ScaleSettings:
    factor: int = 2


@dataclass
class RunSettings:
    root: str = ""
    stages: list[str] = field(default_factory=lambda: ["source", "scale"])


@dataclass
class FakeConfig:
    run: RunSettings
    source: SourceSettings = field(default_factory=SourceSettings)
    scale: ScaleSettings = field(default_factory=ScaleSettings)


class SourceStage(Stage):
    name = "source"
    provides = ("numbers",)

    def run(self, ctx: StageContext) -> None:
        write_table(pa.table({"x": list(range(ctx.settings.n))}), ctx.out("numbers"))
        ctx.count(rows_out=ctx.settings.n)


class ScaleStage(Stage):
    name = "scale"
    requires = ("numbers",)
    provides = ("scaled",)

    def run(self, ctx: StageContext) -> None:
        table = read_table(ctx.input("numbers"))
        values = [v * ctx.settings.factor for v in table.column("x").to_pylist()]
        # Write a first part, then (in the kill test) hang before the stage can finish.
        write_table(pa.table({"x": values[:1]}), ctx.out("partial"))
        if os.environ.get("GRE_TEST_HANG_IN_SCALE"):
            (ctx.run_root.parent / "hanging").write_text("now")
            time.sleep(120)
        write_table(pa.table({"x": values}), ctx.out("scaled"))
        odd = sum(1 for v in table.column("x").to_pylist() if v % 2)
        ctx.quarantine("odd input", odd)
        ctx.count(rows_in=table.num_rows, rows_out=len(values))


class FailingStage(ScaleStage):
    def run(self, ctx: StageContext) -> None:
        write_table(pa.table({"x": [1]}), ctx.out("scaled"))
        raise RuntimeError("boom")


REGISTRY = {"source": SourceStage, "scale": ScaleStage}
