"""Run the stages a config lists, in dependency order, each in its own folder of one run folder.

Layout of a run folder (local path or URI)::

    <run.root>/
      config.yaml            the resolved config of the last run
      run.json               what the last run did, stage by stage
      _lease.json            the lease of the run using the folder now (absent between runs)
      <stage>/manifest.json  written last: its presence marks a complete stage
      <stage>/<artifact>/    the stage's outputs
      _tmp/<run>/<stage>/    a stage in progress (removed or renamed when it ends)

A run first takes the folder's lease (:mod:`gre_ray.runner.lease`): a second run on the
same folder waits or stops with one line naming the holder, so it never cleans or
overwrites the first one's work. A stage runs in ``_tmp/<run>`` and is renamed into
place only after its manifest is written (and the lease confirmed), so a run killed
mid-stage leaves no partial output where a reader would find it; the run that takes over
its lease removes that run's leftovers and runs the stage again. A stage whose fingerprint
(content settings, code version, upstream fingerprints, external inputs) matches its
manifest is skipped. A stage stopped by SIGINT or SIGTERM (:mod:`gre_ray.runner.interrupt`)
is removed from ``_tmp`` like a failed one and raises
:class:`~gre_ray.runner.interrupt.Interrupted`, naming it and the stages kept.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import yaml

from gre_ray.config.loader import to_dict
from gre_ray.data.storage import Location, write_json
from gre_ray.errors import ConfigError
from gre_ray.runner import interrupt
from gre_ray.runner.lease import RunLease
from gre_ray.runner.manifest import COMPLETE, library_versions, read_manifest, stage_fingerprint, write_manifest
from gre_ray.runner.stage import Stage, StageContext

log = logging.getLogger("gre_ray")

TMP_DIR = "_tmp"


@dataclass(frozen=True)
class PlannedStage:
    """A stage with its upstream wiring resolved."""

    stage: Stage
    inputs: dict[str, str]  # artifact -> name of the providing stage


@dataclass
class StageOutcome:
    """What happened to one stage in a run."""

    name: str
    status: str  # "ran" or "skipped"
    fingerprint: str
    folder: str
    manifest: dict[str, Any]


def plan(stage_names: list[str], registry: Mapping[str, type[Stage]]) -> list[PlannedStage]:
    """Order the named stages so every stage comes after the providers of its inputs.

    Raises:
        ConfigError: an unknown stage, two stages providing one artifact, a required
            artifact that no listed stage provides, or a cycle.
    """
    stages: dict[str, Stage] = {}
    for name in stage_names:
        if name not in registry:
            raise ConfigError(f"run.stages: unknown stage {name!r} (known: {', '.join(registry)})")
        if name in stages:
            raise ConfigError(f"run.stages: stage {name!r} is listed twice")
        stages[name] = registry[name]()

    providers: dict[str, str] = {}
    for name, stage in stages.items():
        for artifact in stage.provides:
            if artifact in providers:
                raise ConfigError(
                    f"run.stages: both {providers[artifact]!r} and {name!r} provide {artifact!r}; list only one"
                )
            providers[artifact] = name

    wiring: dict[str, dict[str, str]] = {}
    for name, stage in stages.items():
        wiring[name] = {}
        for artifact in stage.requires:
            if artifact not in providers:
                makers = sorted(n for n, cls in registry.items() if artifact in cls.provides)
                raise ConfigError(
                    f"run.stages: stage {name!r} needs {artifact!r}, which no listed stage provides "
                    f"(add one of: {', '.join(makers) or 'none known'})"
                )
            wiring[name][artifact] = providers[artifact]
        for artifact in stage.optional:
            if artifact in providers and providers[artifact] != name:
                wiring[name][artifact] = providers[artifact]

    ordered: list[PlannedStage] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(f"run.stages: dependency cycle {' -> '.join(path + [name])}")
        state[name] = "visiting"
        for upstream in sorted(set(wiring[name].values())):
            visit(upstream, path + [name])
        state[name] = "done"
        ordered.append(PlannedStage(stages[name], wiring[name]))

    for name in stages:
        visit(name, [])
    return ordered


def run_pipeline(
    config: Any,
    registry: Mapping[str, type[Stage]],
    *,
    force: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
    start_ray: Callable[..., None] | None = None,
) -> list[StageOutcome]:
    """Run (or skip) every stage of ``config.run.stages``.

    Args:
        config: the root config; ``config.run.root`` is the run folder and
            ``config.run.stages`` the stage names.
        registry: stage name → stage class.
        force: stages to run again even when their fingerprint is unchanged.
        only: when given, run just these stages; their upstream stages must already be
            complete in the run folder with matching fingerprints.
        start_ray: called once with ``config`` and the needs of every stage to run
            (:meth:`Stage.needs`) before the first stage that uses Ray.

    Returns:
        One outcome per planned stage, in execution order.
    """
    planned = plan([str(getattr(s, "value", s)) for s in config.run.stages], registry)
    names = [p.stage.name for p in planned]
    for name in (*force, *only):
        if name not in names:
            raise ConfigError(f"stage {name!r} is not in run.stages ({', '.join(names)})")
    root = Location.of(config.run.root)
    needed = upstream_closure(planned, only) if only else set(names)
    external = preflight(config, [p for p in planned if p.stage.name in needed])
    root.mkdir()
    lease = RunLease(
        root,
        wait_s=float(getattr(config.run, "lease_wait_s", 0.0)),
        stale_s=float(getattr(config.run, "lease_stale_s", 60.0)),
    ).acquire()
    try:
        return _run_leased(config, planned, needed, external, root, lease, force, only, start_ray)
    finally:
        lease.release()


def _run_leased(
    config: Any,
    planned: list[PlannedStage],
    needed: set[str],
    external_inputs: dict[str, dict[str, str]],
    root: Location,
    lease: RunLease,
    force: tuple[str, ...],
    only: tuple[str, ...],
    start_ray: Callable[..., None] | None,
) -> list[StageOutcome]:
    """The body of :func:`run_pipeline`, run while ``lease`` is held."""
    _clean_tmp(root, lease)
    (root / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))

    ray_started = False
    fingerprints: dict[str, str] = {}
    outcomes: list[StageOutcome] = []
    for item in planned:
        stage = item.stage
        if stage.name not in needed:
            continue  # downstream of --only: neither run nor required
        settings = stage.settings(config)
        upstream = {artifact: fingerprints[provider] for artifact, provider in item.inputs.items()}
        external = external_inputs[stage.name]
        fingerprint = stage_fingerprint(stage.name, stage.version, settings, upstream, external, stage.speed_settings)
        fingerprints[stage.name] = fingerprint
        folder = root / stage.name
        existing = read_manifest(folder)
        up_to_date = existing is not None and existing.get("fingerprint") == fingerprint

        if (only and stage.name not in only) or (up_to_date and stage.name not in force):
            if not up_to_date:
                raise ConfigError(
                    f"stage {stage.name!r} is needed by {', '.join(only)} but has no up-to-date output in "
                    f"{folder.uri}; run it first (drop --only)"
                )
            log.info("stage %s: up to date (%s), skipped", stage.name, fingerprint)
            outcomes.append(StageOutcome(stage.name, "skipped", fingerprint, folder.uri, existing))
            continue

        try:
            if stage.uses_ray and not ray_started and start_ray is not None:
                start_ray(config, [n for p in planned if p.stage.name in needed for n in p.stage.needs(config)])
                ray_started = True
            manifest = _execute(stage, item, config, settings, root, fingerprint, upstream, external, lease)
        except KeyboardInterrupt as exc:
            done = [o.name for o in outcomes]
            log.warning("stage %s: interrupted; not recorded as done", stage.name)
            kept = [f"stage{'s' if len(done) > 1 else ''} {', '.join(done)} done"] if done else []
            raise interrupt.during(stage.name, exc, kept) from None
        outcomes.append(StageOutcome(stage.name, "ran", fingerprint, folder.uri, manifest))

    lease.confirm()
    write_json(
        root / "run.json",
        {
            "finished_at": _now(),
            "stages": [{"stage": o.name, "status": o.status, "fingerprint": o.fingerprint} for o in outcomes],
        },
    )
    return outcomes


def preflight(config: Any, planned: list[PlannedStage]) -> dict[str, dict[str, str]]:
    """Check every stage's inputs before the first one starts; the external inputs of each.

    Each stage's :meth:`~Stage.preflight` runs, then its :meth:`~Stage.external_inputs`
    (which locates raw files and model weights), in run order, so that a mistake in the
    last stage's settings stops the run before the first stage has done any work.

    Raises:
        UserError: the first mistake found, in one line.
    """
    external = {}
    for item in planned:
        item.stage.preflight(config)
        external[item.stage.name] = item.stage.external_inputs(config)
    return external


def _execute(
    stage: Stage,
    item: PlannedStage,
    config: Any,
    settings: Any,
    root: Location,
    fingerprint: str,
    upstream: dict[str, str],
    external: dict[str, str],
    lease: RunLease,
) -> dict[str, Any]:
    tmp = root / TMP_DIR / lease.run_id / f"{stage.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    ctx = StageContext(
        config=config,
        settings=settings,
        output=tmp,
        inputs={artifact: root / provider / artifact for artifact, provider in item.inputs.items()},
        run_root=root,
    )
    log.info("stage %s: running (%s)", stage.name, fingerprint)
    started, t0 = _now(), time.perf_counter()
    try:
        stage.run(ctx)
        missing = [a for a in stage.provides if not ctx.out(a).exists()]
        if missing:
            raise RuntimeError(f"stage {stage.name} finished without writing {', '.join(missing)}")
    except BaseException:
        tmp.remove()
        _remove_if_empty(tmp.parent)
        raise
    manifest = {
        "stage": stage.name,
        "status": COMPLETE,
        "fingerprint": fingerprint,
        "version": stage.version,
        "settings": to_dict(settings),
        "inputs": {a: {"stage": item.inputs[a], "fingerprint": fp} for a, fp in upstream.items()},
        "external_inputs": external,
        "rows": {
            "in": ctx.rows_in,
            "out": ctx.rows_out,
            "quarantined": dict(sorted(ctx.quarantined.items())),
            "quarantined_total": sum(ctx.quarantined.values()),
        },
        "stats": ctx.stats,
        "warnings": ctx.warnings,
        "started_at": started,
        "finished_at": _now(),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "versions": library_versions(),
        "files": [
            {"path": info.path[len(tmp.path) + 1 :], "bytes": info.size} for info in tmp.files()
        ],
    }
    lease.confirm()  # a run whose lease was taken over must not replace the new holder's output
    write_manifest(tmp, manifest)
    final = root / stage.name
    final.remove()
    tmp.move_to(final)
    _remove_if_empty(tmp.parent)
    log.info("stage %s: done in %.1fs", stage.name, manifest["wall_time_s"])
    return manifest


def upstream_closure(planned: list[PlannedStage], targets: Iterable[str]) -> set[str]:
    """``targets`` and every stage they read from, directly or not (``--only`` runs them
    against what is current; ``gre-ray bench`` runs the stages its artifacts need)."""
    providers = {p.stage.name: set(p.inputs.values()) for p in planned}
    closure, todo = set(), list(targets)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(providers[name])
    return closure


def _clean_tmp(root: Location, lease: RunLease) -> None:
    """Remove the stage folders that the run whose lease this run took over left in ``_tmp``.

    Only that run's folder goes: it held the lease until it died, so nothing else can be
    writing there. Folders of other runs are left alone and named in the log.
    """
    tmp = root / TMP_DIR
    dead = (lease.took_over or {}).get("run_id")
    for leftover in tmp.children():
        if dead and leftover.name == dead:
            log.info("removing partial output of the interrupted run %s: %s", dead, leftover.uri)
            leftover.remove()
        elif leftover.name != lease.run_id:
            log.info("left alone in %s: %s (not written by a run this run took over from)", tmp.uri, leftover.name)


def _remove_if_empty(folder: Location) -> None:
    if folder.is_dir() and not folder.children():
        folder.remove()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
