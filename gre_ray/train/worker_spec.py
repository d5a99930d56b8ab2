"""What every Ray Train worker receives: one frozen, checked spec instead of a dict of strings.

The driver (:func:`gre_ray.wiring.train_driver.fit`) builds a :class:`WorkerSpec` through the
config loader (:func:`gre_ray.config.loader.build`, so a misspelt field is an error) and
hands it to ``TorchTrainer(train_loop_config=spec.loop_config())``; the worker takes it back
with :meth:`WorkerSpec.from_loop_config` and reads its settings as attributes (the task's
typed sections for the training settings, the fields below for the rest; their defaults
live here only). Workers may run on other
nodes, so every model and file it names is a URI, a Hub id or a shipped model name
(:mod:`gre_ray.data.shared`); building one with a driver-local path raises. Each worker
resolves the task's model names on its own node (:meth:`WorkerSpec.task_on_node`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gre_ray.config.loader import build
from gre_ray.data.shared import check_shared

SPEC_KEY = "spec"


@dataclass(frozen=True)
class WorkerSpec:
    """The training loop's inputs.

    Attributes:
        task: the task to train (:class:`gre_ray.train.tasks.base.Task`); its model
            fields (:attr:`~gre_ray.train.tasks.base.Task.model_fields`) hold names, not folders.
        global_counts: training rows per domain (fixes the sampler's shares).
        steps_per_epoch: micro-batches per epoch per worker.
        heldout: the held-out rows (a ``pyarrow.Table``: it travels by value).
        fail_marker: test-only: URI of the file that remembers the injected failure.
        local_checkpoints: in-process runs only: URI of the folder checkpoints are written to.
        resume_from: a ``ray.train.Checkpoint`` to start from (its path is a URI or a
            folder of the run's storage), or None.
    """

    task: Any
    global_counts: dict[str, int] = field(default_factory=dict)
    steps_per_epoch: int = 1
    heldout: Any = None
    fail_marker: str = ""
    local_checkpoints: str = ""
    resume_from: Any = None

    def __post_init__(self) -> None:
        for name in self.task.model_fields:
            check_shared(getattr(self.task, name, "") or "", f"train worker spec: task.{name}")
        check_shared(self.fail_marker, "train worker spec: fail_marker")
        check_shared(self.local_checkpoints, "train worker spec: local_checkpoints")
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1, got {self.steps_per_epoch}")

    def loop_config(self) -> dict[str, Any]:
        """What ``TorchTrainer(train_loop_config=...)`` carries to every worker."""
        return {SPEC_KEY: self}

    @classmethod
    def from_loop_config(cls, config: dict[str, Any]) -> "WorkerSpec":
        """The spec in a worker's ``train_loop_config``.

        Raises:
            TypeError: the config carries no spec (a loop started by something else than ``fit``).
        """
        spec = config.get(SPEC_KEY)
        if not isinstance(spec, cls):
            raise TypeError(f"train_loop_config must carry a WorkerSpec under {SPEC_KEY!r} (WorkerSpec.loop_config()), "
                            f"got {type(spec).__name__}")
        return spec

    @classmethod
    def of(cls, **fields: Any) -> "WorkerSpec":
        """Build a spec through the config loader (unknown fields and bad values raise ``ConfigError``)."""
        return build(cls, fields, prefix="train worker spec")

    def task_on_node(self) -> Any:
        """A copy of the task whose model names are resolved to folders on this node.

        A URI is fetched into the node's model cache (:mod:`gre_ray.embed.node_cache`),
        a Hub id through the node's Hub cache, a shipped name to the installed package.
        """
        from gre_ray.embed.model_folder import resolve_model_dir

        task = copy.copy(self.task)
        for name in task.model_fields:
            value = getattr(task, name, "")
            if value:
                setattr(task, name, str(resolve_model_dir(value)))
        return task
