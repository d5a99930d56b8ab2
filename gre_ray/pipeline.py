"""The one function the CLI and ``jobs/`` call: run a config's stages and print what happened."""

from __future__ import annotations

from typing import Callable

from gre_ray.root_config import GreConfig
from gre_ray.wiring.ray_session import start_ray
from gre_ray.runner.resources import Need
from gre_ray.runner.runner import StageOutcome, plan, run_pipeline
from gre_ray.stages import registry


def run_config(
    config: GreConfig,
    *,
    force: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
    echo: Callable[[str], None] | None = None,
) -> list[StageOutcome]:
    """Run ``config`` with the registered stages, starting or joining Ray when a stage needs it.

    Args:
        config: the loaded config.
        force: stages to rerun although up to date.
        only: stages to run alone (their inputs must be up to date).
        echo: where to print the per-stage summary (None: print nothing).

    Returns:
        The outcome of every stage, in execution order.
    """
    stages = registry()
    outcomes = run_pipeline(config, stages, force=force, only=only, start_ray=start_ray)
    if echo is not None:
        for outcome in outcomes:
            echo(f"\n== {outcome.name}: {outcome.status} -> {outcome.folder}")
            for line in stages[outcome.name]().summarize(outcome.manifest):
                echo(f"   {line}")
    return outcomes


def stage_needs(config: GreConfig) -> list[tuple[str, list[Need]]]:
    """Each stage the config runs, in run order, with what it asks of a Ray cluster
    (:meth:`~gre_ray.runner.stage.Stage.needs`): what ``gre-ray plan`` judges offline and the
    run checks when it joins a cluster."""
    planned = plan([str(getattr(s, "value", s)) for s in config.run.stages], registry())
    return [(item.stage.name, item.stage.needs(config)) for item in planned]
