"""A run of the fake stages whose first stage waits at a gate, for tests of two runs on one run folder.

``python -m tests.cluster.lease_runs ROOT N WAIT_S GATE_DIR`` runs ``source`` (N rows) and
``scale`` on ROOT with ``run.lease_wait_s=WAIT_S``. The ``source`` stage writes
``GATE_DIR/started-<pid>`` once it runs and then waits until ``GATE_DIR/go`` exists, so a
test can start a second run while the first is mid-stage. A user error ends the process
the way the CLI does: one ``gre-ray: error:`` line, exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

import pyarrow as pa

from gre_ray.cli import user_error_message
from gre_ray.data.storage import write_table
from gre_ray.runner.runner import run_pipeline
from gre_ray.runner.stage import StageContext
from tests.foundation.runner_fakes import REGISTRY, FakeConfig, RunSettings, SourceSettings, SourceStage


@dataclass
class LeaseRunSettings(RunSettings):
    """The fake runner's run settings plus the lease's."""

    lease_wait_s: float = 0.0
    lease_stale_s: float = 60.0


@dataclass
class LeaseConfig(FakeConfig):
    run: LeaseRunSettings


class GatedSourceStage(SourceStage):
    """``source`` that writes half its rows, waits at the gate, then writes the rest."""

    def run(self, ctx: StageContext) -> None:
        n = ctx.settings.n
        write_table(pa.table({"x": list(range(n // 2))}), ctx.out("numbers") / "first")
        gate = os.environ.get("GRE_TEST_GATE")
        if gate:
            open(os.path.join(gate, f"started-{os.getpid()}"), "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(os.path.join(gate, "go")) and time.monotonic() < deadline:
                time.sleep(0.05)
        write_table(pa.table({"x": list(range(n // 2, n))}), ctx.out("numbers") / "second")
        ctx.count(rows_out=n)


GATED = {**REGISTRY, "source": GatedSourceStage}


def main(argv: list[str]) -> int:
    root, n, wait_s, gate = argv[0], int(argv[1]), float(argv[2]), argv[3]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    os.environ["GRE_TEST_GATE"] = gate
    config = LeaseConfig(LeaseRunSettings(root, lease_wait_s=wait_s), SourceSettings(n))
    try:
        outcomes = run_pipeline(config, GATED)
    except Exception as exc:  # noqa: BLE001 - the CLI's rule: a user error is one line
        message = user_error_message(exc)
        if message is None:
            raise
        print(f"gre-ray: error: {message}", file=sys.stderr)
        return 2
    print(" ".join(f"{o.name}={o.status}" for o in outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
