"""What a pipeline stage is: the artifacts it needs and makes, and the context it runs in.

A stage is a small class registered by name. It declares the artifacts it ``requires``
and ``provides`` (``items``, ``interactions``, ``embeddings``, ...); the runner wires
each required artifact to the stage in the run that provides it, so the dependency graph
follows from the declarations and no stage hard-codes another's folder.

A stage writes only into ``ctx.output`` (a temporary folder the runner renames into place
when the stage succeeds) and reports its row counts through the context, which the
runner records in the stage's ``manifest.json``.
"""

from __future__ import annotations

import abc
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gre_ray.data.storage import Location
from gre_ray.runner.resources import Need

log = logging.getLogger("gre_ray")


class Stage(abc.ABC):
    """Base class of a runner stage.

    Class attributes:
        name: the stage's name in ``run.stages`` and its folder under the run folder.
        provides: artifacts written under ``ctx.output / <artifact>``.
        requires: artifacts that another stage of the run must provide.
        optional: artifacts used when some stage of the run provides them.
        uses_ray: whether the runner must start (or join) Ray before running it.
        version: bump when the stage's output changes for the same inputs and settings,
            so old outputs are not reused.
        speed_settings: dotted keys of the stage's settings that change its speed but not
            its output (actors, batch and token budgets, concurrency); left out of the
            fingerprint, so changing them reruns nothing.
    """

    name: ClassVar[str]
    provides: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    uses_ray: ClassVar[bool] = False
    version: ClassVar[int] = 1
    speed_settings: ClassVar[tuple[str, ...]] = ()

    def settings(self, config: Any) -> Any:
        """The part of the config that determines this stage's output (default: its own section)."""
        return getattr(config, self.name)

    def external_inputs(self, config: Any) -> dict[str, str]:
        """Fingerprints of inputs from outside the run folder (raw files, model weights).

        The runner computes them for every stage it will run or check before the first
        stage starts, so a missing file or model is reported before any work.
        """
        return {}

    def preflight(self, config: Any) -> None:
        """Find the user's mistakes this stage would meet, before any stage runs.

        Raises a :class:`~gre_ray.errors.UserError` with one line. Called for every stage
        of the run before the run folder is touched; it must not write anything.
        """

    def needs(self, config: Any) -> list["Need"]:
        """What this stage's Ray work asks of the cluster (actors, workers, trials and their
        bundles), for the check when a run joins a cluster and for ``gre-ray plan``.

        Default: nothing beyond the head (driver-side or small Ray Data work).
        """
        return []

    def summarize(self, manifest: dict[str, Any]) -> list[str]:
        """Lines for the console after the stage ran or was skipped (default: row counts)."""
        rows = manifest.get("rows", {})
        text = f"rows in {rows.get('in', 0):,}, out {rows.get('out', 0):,}"
        if rows.get("quarantined_total"):
            text += f", quarantined {rows['quarantined_total']:,} ({rows.get('quarantined')})"
        return [text]

    @abc.abstractmethod
    def run(self, ctx: "StageContext") -> None:
        """Produce every artifact in ``provides`` under ``ctx.output``."""


@dataclass
class StageContext:
    """Everything a running stage sees.

    Attributes:
        config: the whole run config.
        settings: this stage's settings (``Stage.settings(config)``).
        output: the temporary folder to write artifacts into.
        inputs: artifact name → location of the upstream artifact.
        run_root: the run folder (for stages that keep a cache beside the stages).
    """

    config: Any
    settings: Any
    output: Location
    inputs: dict[str, Location]
    run_root: Location
    rows_in: int = 0
    rows_out: int = 0
    quarantined: Counter = field(default_factory=Counter)
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def out(self, artifact: str) -> Location:
        """Where to write ``artifact``."""
        return self.output / artifact

    def input(self, artifact: str) -> Location:
        """Location of a required artifact; optional ones may be absent (see :meth:`has_input`)."""
        try:
            return self.inputs[artifact]
        except KeyError:
            raise KeyError(f"artifact {artifact!r} is not an input of this stage") from None

    def has_input(self, artifact: str) -> bool:
        return artifact in self.inputs

    def count(self, rows_in: int = 0, rows_out: int = 0) -> None:
        self.rows_in += rows_in
        self.rows_out += rows_out

    def quarantine(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows set aside for ``reason`` (the rows themselves go to a quarantine file)."""
        if n:
            self.quarantined[reason] += n

    def warn(self, message: str) -> None:
        """Record a warning in the manifest and log it."""
        log.warning(message)
        self.warnings.append(message)
