"""Ray Tune wiring of GRE-B: a grid of trial specs over one driver function.

``param_space = {"trial": tune.grid_search(specs)}``: each spec is a whole trial (see
:mod:`gre_ray.bench.trials`), so the grid can skip combinations (ID-only runs once per
seed, not once per fusion) and every trial carries its own file paths. Trials are named
and given folders after their spec's stable name, so an interrupted experiment is restored
with ``Tuner.restore`` and its finished trials are never run again; only state sealed by
this driver is restored (:mod:`gre_ray.bench.tune_seal`). A crashed trial is
retried ``max_failures`` times (``FailureConfig``), then kept as errored while the grid
goes on. Tune's default loggers write ``progress.csv``, ``result.json`` and TensorBoard
event files into every trial folder.

On SIGINT (or SIGTERM, which :mod:`gre_ray.runner.interrupt` turns into SIGINT) Tune's own
handler stops the trials, saves the experiment state and returns from ``fit`` with the
unfinished trials neither terminated nor errored (Ray's intended use); :func:`run_grid` then
raises :class:`~gre_ray.runner.interrupt.Interrupted`, so no caller mistakes the
interrupted trials for failed ones.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ray
from ray import tune

from gre_ray.bench import tune_seal
from gre_ray.bench.config import BenchmarkConfig, ResourceSettings
from gre_ray.bench.prepare import check_resources
from gre_ray.bench.reuse import store_result, stores_its_result
from gre_ray.bench.trial import Report, run_trial
from gre_ray.bench.trial_spec import TrialSpec
from gre_ray.data.storage import Location
from gre_ray.errors import innermost_cause
from gre_ray.runner.interrupt import Interrupted
from gre_ray.runner.resources import benchmark_needs, trial_need
from gre_ray.wiring import autoscale
from gre_ray.wiring.accelerator import gpu_device, node_id
from gre_ray.wiring.tune_callbacks import ProgressLog

log = logging.getLogger("gre_ray")

TrialFn = Callable[[dict[str, Any], Report], Any]  # called with the plain form Tune carries
HISTORY_KEYS = ("epoch", "train_loss", "valid_score", "epoch_seconds")


def spec_name(trial: Any) -> str:
    """Tune's name and folder of a trial: its spec's stable name."""
    return trial.config["trial"]["name"]


def placed_trial(spec: TrialSpec | Mapping[str, Any], report: Report) -> dict[str, Any]:
    """:func:`~gre_ray.bench.trial.run_trial` on the device and node Ray gave the trial.

    A spec that trains on ``cuda`` was given a GPU share by Ray: it runs on CUDA, or stops
    (:func:`gre_ray.wiring.accelerator.gpu_device`; the CPU on a simulated cluster).
    """
    spec = TrialSpec.of(spec)
    device = str(gpu_device(f"benchmark trial {spec.name}")) if spec.on_gpu else None
    return run_trial(spec, report, device=device, node=node_id())


def make_trainable(trial_fn: TrialFn = placed_trial) -> Callable[[dict[str, Any]], None]:
    """The function trainable that runs ``trial_fn(spec, tune.report)`` for one trial.

    ``spec`` is the plain form Tune carries; the driver function reads it back
    (:meth:`TrialSpec.of <gre_ray.bench.trial_spec.TrialSpec.of>`). When the spec names a
    results ``store``, the trial appends its result there itself when it finishes
    (:func:`gre_ray.bench.reuse.store_result`), so a killed grid keeps every trial that
    finished.
    """

    def gre_b_trial(config: dict[str, Any]) -> None:
        plain = config["trial"]
        if not stores_its_result(plain):
            trial_fn(plain, tune.report)
            return
        history: list[dict[str, float]] = []

        def report(metrics: dict[str, Any]) -> None:
            if metrics.get("final") == 0:
                history.append({k: float(metrics[k]) for k in HISTORY_KEYS if k in metrics})
            tune.report(metrics)

        final = trial_fn(plain, report)
        store_result(plain, final, history)

    return gre_b_trial


def check_cluster(config: BenchmarkConfig) -> None:
    """Refuse a grid whose trials or encoder actors the Ray cluster can never schedule.

    On an autoscaling cluster only what its node types can never hold is refused; the
    autoscaler is asked for the rest when the work starts (:mod:`gre_ray.wiring.autoscale`).
    Without an autoscaler, the cluster's resources now decide
    (:func:`gre_ray.bench.prepare.check_resources`).

    Raises:
        ConfigError: one line naming the setting that asks too much.
    """
    if autoscale.refuse_if_autoscaled(benchmark_needs(config)):
        return
    check_resources(config, ray.cluster_resources())


def run_grid(
    specs: Sequence[dict[str, Any]],
    storage: str,
    name: str,
    resources: ResourceSettings,
    *,
    trial_fn: TrialFn = placed_trial,
    scheduler: Any = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 0,
) -> list[dict[str, Any]]:
    """Run (or restore and finish) the Tune experiment ``storage/name`` over ``specs``.

    Args:
        specs: trial specs with unique ``name`` values.
        storage: the folder (local path or URI) that holds the experiment.
        name: the experiment name; an experiment of that name found in ``storage`` is
            restored: finished trials keep their results, unfinished ones run, errored
            ones run again only with ``resources.restart_errored``.
        resources: per-trial CPUs/GPUs, concurrency, actor reuse and retries.
        trial_fn: the driver function (tests inject failing or counting ones).
        scheduler: a Tune trial scheduler (ASHA in search mode), or None for FIFO.
        callbacks: Tune callbacks (a progress logger is always added).
        verbose: Tune's console verbosity (0: only the progress log, 1: Tune's status tables).

    Returns:
        One record per trial: see :func:`trial_record`.
    """
    # TensorBoard tags cannot hold '@': tensorboardX logs every renaming (ndcg@10 -> ndcg_10) at INFO
    logging.getLogger("tensorboardX.summary").setLevel(logging.WARNING)
    trainable = tune.with_resources(make_trainable(trial_fn), {"cpu": resources.cpus, "gpu": resources.gpus})
    param_space = {"trial": tune.grid_search(list(specs))}
    experiment = Location.of(storage) / name
    path = experiment.uri
    restorable = tune.Tuner.can_restore(path)
    if restorable and not tune_seal.is_sealed(experiment):
        log.warning("not restoring the Tune experiment %s: its state was not sealed by this driver's key "
                    "(killed hard, or written by someone else); starting it afresh", path)
        restorable = False
    if restorable:
        log.info("restoring the interrupted Tune experiment %s", path)
        tuner = tune.Tuner.restore(
            path, trainable, resume_unfinished=True, restart_errored=resources.restart_errored, param_space=param_space
        )
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=resources.trial_cap,
                reuse_actors=resources.reuse_actors,
                trial_name_creator=spec_name,
                trial_dirname_creator=spec_name,
                scheduler=scheduler,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=Location.of(storage).uri,
                failure_config=tune.FailureConfig(max_failures=resources.max_failures),
                callbacks=[ProgressLog(len(specs)), *callbacks],
                verbose=verbose,
            ),
        )
    log.info("%s: %d trials, %s", name, len(specs), concurrency_text(resources))
    with autoscale.resources(trial_need(resources)):  # GPU nodes of an autoscaling cluster
        grid = tuner.fit()
    tune_seal.seal(experiment)  # finished or interrupted: a later restore may trust this state
    unfinished = len(specs) - grid.num_terminated - grid.num_errors  # Tune creates a grid's trials as it goes
    if unfinished > 0:  # Tune returned early: its SIGINT handler stopped the experiment
        raise Interrupted([f"the Tune experiment {path} ({unfinished} of {len(specs)} trials unfinished)"])
    return [trial_record(result) for result in grid]


def concurrency_text(resources: ResourceSettings) -> str:
    """How many trials run at once: the setting, or for ``auto`` what the cluster holds now."""
    if resources.trial_cap:
        return f"up to {resources.trial_cap} at a time (max_concurrent_trials)"
    total = ray.cluster_resources()
    fits = {"CPU": total.get("CPU", 0.0) / resources.cpus}
    if resources.gpus:
        fits["GPU"] = total.get("GPU", 0.0) / resources.gpus
    limit = min(fits, key=fits.get)
    return (f"up to {int(fits[limit])} at a time now (max_concurrent_trials auto: {total.get(limit, 0):g} {limit}s, "
            f"{getattr(resources, limit.lower() + 's'):g} per trial)")


def trial_record(result: Any) -> dict[str, Any]:
    """A plain record of one Tune result.

    Returns:
        ``spec`` (the trial spec), ``metrics`` (the last report: the final record of a
        finished trial), ``history`` (per-epoch ``epoch``, ``train_loss``, ``valid_score``,
        ``epoch_seconds``), ``error`` (one line, empty when none), ``failures`` (crashes
        counted by Tune, retried ones included) and ``path`` (the trial folder).
    """
    metrics = dict(result.metrics or {})
    history: list[dict[str, float]] = []
    frame = result.metrics_dataframe
    if frame is not None and len(frame) and "final" in frame.columns:
        epochs = frame[frame["final"] == 0]
        keep = [k for k in HISTORY_KEYS if k in epochs.columns]
        for row in epochs[keep].to_dict("records"):
            if history and row.get("epoch", 0) <= history[-1].get("epoch", 0):
                history = []  # a retried trial started over: keep its last attempt only
            history.append({k: float(v) for k, v in row.items()})
    return {
        "spec": result.config["trial"],
        "metrics": metrics,
        "history": history,
        "error": error_text(result.error) if result.error is not None else "",
        "failures": _count_failures(result),
        "path": str(result.path),
    }


def error_text(exc: BaseException) -> str:
    """``Type: message`` of the innermost cause of a trial error, on one line."""
    exc = innermost_cause(exc)
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:500]


def _count_failures(result: Any) -> int:
    """Crashes of a trial, read from the ``error.txt`` Tune appends one entry to per crash."""
    try:
        with result.filesystem.open_input_stream(f"{result.path}/error.txt") as stream:
            text = stream.read().decode("utf-8", "replace")
    except (OSError, FileNotFoundError):
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("Failure # "))


def best_valid_score(record: dict[str, Any]) -> float:
    """The best validation score a (possibly early-stopped) trial reported, NaN when none."""
    values = [h["valid_score"] for h in record["history"] if math.isfinite(h.get("valid_score", math.nan))]
    return max(values) if values else math.nan
