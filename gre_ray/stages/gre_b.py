"""The GRE-B flow: one grid, run so that no trial already measured runs again.

Shared by the ``benchmark`` stage (:mod:`gre_ray.stages.benchmark`) and ``gre-ray bench``
(:mod:`gre_ray.commands.bench_run`); the Ray work is the wiring's (split tasks through
:mod:`gre_ray.wiring.tasks`, the grid through :mod:`gre_ray.wiring.tune_grid`):

1. resolve the datasets; save each (dataset, task) split once in a content-addressed
   cache (``<run>/cache/splits/<key>``: the interactions' fingerprint, the dataset and the
   split settings), so every grid of the run reads the very same split;
2. get every (dataset, embedding) from the embedding cache (computing what is missing),
   with its content fingerprint;
3. score the zero-training tier (:mod:`gre_ray.bench.zero_shot`);
4. key every trial (:mod:`gre_ray.bench.keys`), look the keys up in the results store
   (:mod:`gre_ray.bench.store`) and run a Tune grid over the missing trials only; each
   finished trial appends itself to the store;
5. assemble the grid's results from the store (relabelled with this grid's names) and
   the failures of this run;
6. :func:`write_report`: the report and the plain-text leaderboard both callers show.

Ray is started (``ensure_ray``) only when something must be computed: a grid whose
splits, embeddings and trials are all stored runs in seconds without it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gre_ray.bench.config import BenchmarkConfig, SearchSettings
from gre_ray.bench.identity import embedding_identities, with_identity
from gre_ray.bench.prepare import build_split, select_datasets, split_configs
from gre_ray.bench.report import Report as Page
from gre_ray.bench.report import board_lines, build_report, save_report, zero_shot_lines
from gre_ray.bench.results import FAILED, HISTORY_COLUMNS, RESULT_COLUMNS, history_table, results_table
from gre_ray.bench.reuse import PROTOCOL_COLUMNS, protocol_columns, reused_tables, split_by_store, with_keys
from gre_ray.bench.store import ResultsStore
from gre_ray.bench.trial import Report
from gre_ray.bench.trial_spec import TrialSpec, checked
from gre_ray.bench.trials import DatasetInputs, grid_specs
from gre_ray.bench.zero_shot import zero_shot_table
from gre_ray.config.loader import to_dict
from gre_ray.data.shared import shared_uri
from gre_ray.data.storage import Location, read_json, read_table
from gre_ray.runner.interrupt import Interrupted
from gre_ray.stages.bench_embeddings import CACHE_DIR, encoder_for, prepare_embeddings
from gre_ray.tracking.check import check_tracking
from gre_ray.wiring.bench_search import run_search
from gre_ray.wiring.tasks import run_in_tasks
from gre_ray.wiring.tracking import tracking_callbacks
from gre_ray.wiring.tune_grid import check_cluster, placed_trial, run_grid
from gre_ray.wiring.zero_shot_tasks import cluster_scorer

log = logging.getLogger("gre_ray")
SPLIT_CACHE = "cache/splits"


@dataclass
class BenchInputs:
    """The run's artifacts a grid reads.

    Attributes:
        items, interactions, domains: the upstream artifacts.
        interactions_fingerprint: the fingerprint of the stage that wrote ``interactions``
            (enters the split cache key).
        artifacts: optional artifacts (``model``: the GRE model of stage contrastive).
    """

    items: Location
    interactions: Location
    domains: Location
    interactions_fingerprint: str
    artifacts: dict[str, Location] = field(default_factory=dict)


@dataclass
class BenchOutcome:
    """What a grid did and measured.

    Attributes:
        results, history: the tidy tables of this grid's trials (stored and new).
        zero_shot: the zero-training tier (dataset, embedding, metric, value, ...).
        ran: trials trained in this run; reused: trials taken from the store;
            failed: trials that failed in this run (not stored: they run again next time).
        split_stats: ``dataset/task`` → the split's stats and fingerprint.
        specs: the grid's trial specs (with keys).
    """

    results: pd.DataFrame
    history: pd.DataFrame
    zero_shot: pd.DataFrame
    ran: int
    reused: int
    failed: int
    split_stats: dict[str, Any]
    specs: list[dict[str, Any]]


def split_key(interactions_fingerprint: str, dataset: str, config: Any) -> str:
    payload = {"interactions": interactions_fingerprint, "dataset": dataset, "split": to_dict(config)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def prepare_splits(
    config: BenchmarkConfig, inputs: BenchInputs, datasets: list[str], run_root: Location,
    ensure_ray: Callable[[], None],
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(dataset, task) → (split folder, stats with fingerprint), building missing splits in
    parallel Ray tasks."""
    out: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    missing = {}
    for name in datasets:
        for task, split_cfg in split_configs(config, name).items():
            dest = run_root / SPLIT_CACHE / split_key(inputs.interactions_fingerprint, name, split_cfg)
            if (dest / "meta.json").exists():
                saved = read_json(dest / "meta.json")
                out[(name, task)] = (shared_uri(dest), {"fingerprint": saved["fingerprint"],
                                                        "kind": saved.get("kind", ""), **saved["stats"]})
            else:
                missing[(name, task)] = (shared_uri(dest), split_cfg)
    if missing:
        ensure_ray()
        source = shared_uri(inputs.interactions)  # a task argument: a URI every node opens
        built = run_in_tasks(build_split, [(source, k[0], cfg, dest) for k, (dest, cfg) in missing.items()])
        for k, stats in zip(missing, built):
            out[k] = (missing[k][0], {**stats, "kind": missing[k][1].kind.value})
    return out


def query_vectors(
    config: BenchmarkConfig, inputs: BenchInputs, datasets: list[str], encoders: dict[str, Any], run_root: Location,
    ensure_ray: Callable[[], None],
) -> dict[str, dict[str, tuple[str, str]]]:
    """dataset → embedding → (URI, fingerprint) of the item texts embedded with the model's
    query prompt, for the models that have one (the zero-training tier's queries)."""
    asking = [m for m in config.embeddings if encoders[m.name].query_prefix and not m.vectors]
    if not asking:
        return {}
    side = dataclasses.replace(config, base_embedding="", search=SearchSettings(), embeddings=[
        dataclasses.replace(m, artifact="", encoder=dataclasses.replace(
            encoders[m.name], prefix=encoders[m.name].query_prefix, query_prefix=""))
        for m in asking])
    found = prepare_embeddings(side, inputs.items, datasets, {m.name: m.encoder for m in side.embeddings}, run_root,
                               ensure_ray=ensure_ray)
    return {d: {n: (e.uri, e.fingerprint) for n, e in v.items()} for d, v in found.items()}


def kept_trials(store: ResultsStore, specs: list[dict[str, Any]], todo: list[dict[str, Any]]) -> str:
    """What an interrupted grid kept: its trials now in the results store, of how many."""
    stored = store.read()
    have = set(stored["key"]) if not stored.empty else set()
    now = sum(1 for s in todo if TrialSpec.of(s).key in have)
    return (f"{len(specs) - len(todo) + now} of {len(specs)} trials in the results store {store.root.uri} "
            f"({now} finished in this run)")


def dataset_inputs(datasets: list[tuple[str, str]], splits: dict, vectors: dict,
                   identities: dict[str, dict[str, Any]]) -> list[DatasetInputs]:
    """What the grid knows of each (dataset, scenario): its splits and embeddings with their
    fingerprints (from :func:`prepare_splits` and the embedding cache)."""
    return [
        DatasetInputs(
            name, scenario,
            splits={t: p for (n, t), (p, _) in splits.items() if n == name},
            embeddings={e: v.uri for e, v in vectors[name].items()},
            split_fingerprints={t: s["fingerprint"] for (n, t), (_, s) in splits.items() if n == name},
            split_kinds={t: s.get("kind", "") for (n, t), (_, s) in splits.items() if n == name},
            embedding_fingerprints={e: v.fingerprint for e, v in vectors[name].items()},
            embedding_identities=identities,
        )
        for name, scenario in datasets
    ]


def train_missing(
    config: BenchmarkConfig, specs: list[dict[str, Any]], todo: list[dict[str, Any]], store: ResultsStore,
    run_root: Location, work: Location, trial_fn: Callable[[dict[str, Any], Report], Any], callbacks: Sequence[Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the Tune grid of the trials ``todo`` (each stores its own result when it finishes).

    Returns:
        (results, history) of the trials that failed in this run (not stored: they run again).

    Raises:
        Interrupted: the grid was stopped; what the store kept is named.
    """
    name = "grid-" + hashlib.sha256("".join(sorted(TrialSpec.of(s).key for s in todo)).encode()).hexdigest()[:12]
    tracking = tracking_callbacks(config.tracking, config.tracking_uri, config.tracking_experiment,
                                  run_root.uri, name)
    try:
        records = run_grid(todo, (work / "tune").uri, name, config.resources, trial_fn=trial_fn,
                           callbacks=[*callbacks, *tracking])
    except KeyboardInterrupt:  # interrupted trials are neither stored nor failed: the next run trains them
        raise Interrupted([kept_trials(store, specs, todo)]) from None
    stored_now = store.read()
    have = set(stored_now["key"]) if not stored_now.empty else set()
    lost = [r for r in records if TrialSpec.of(r["spec"]).key not in have]
    if not lost:
        return pd.DataFrame(columns=RESULT_COLUMNS + PROTOCOL_COLUMNS), pd.DataFrame(columns=HISTORY_COLUMNS)
    failed = pd.concat([results_table([r]).assign(**protocol_columns(r["spec"])) for r in lost], ignore_index=True)
    return failed, history_table(lost)


def grid_tables(specs: list[dict[str, Any]], store: ResultsStore, failed: pd.DataFrame,
                failed_history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, history) of the grid: its stored trials under this grid's names, and the
    failures of this run."""
    stored = store.read()
    finished, _ = split_by_store(specs, stored)
    results, history = reused_tables(finished, stored)
    frames = [f for f in (results, failed) if not f.empty]
    results = pd.concat(frames, ignore_index=True) if frames else results
    results = results.sort_values(["dataset", "model", "embedding", "fusion", "seed", "metric"], ignore_index=True)
    results = with_identity(results, specs)
    history = pd.concat([h for h in (history, failed_history) if not h.empty] or [history], ignore_index=True)
    return results, history


def run_benchmark(
    config: BenchmarkConfig,
    inputs: BenchInputs,
    run_root: Location,
    work: Location,
    *,
    ensure_ray: Callable[[], None],
    trial_fn: Callable[[dict[str, Any], Report], Any] = placed_trial,
    callbacks: Sequence[Any] = (),
    store: ResultsStore | None = None,
) -> BenchOutcome:
    """Run the grid of ``config``, training only the trials the store lacks.

    Args:
        config: the benchmark settings.
        inputs: the run's artifacts.
        run_root: the run folder (caches and, by default, the store live there).
        work: the folder of this grid's Tune experiments.
        ensure_ray: starts (or joins) Ray; called only when something must be computed.
        trial_fn: the trial driver (tests pass counting ones).
        callbacks: Tune callbacks.
        store: the results store (default: the run's).

    Raises:
        ConfigError, DataError: unknown datasets, a missing artifact, bad embeddings,
            all before the first trial.
    """
    check_tracking(config.tracking, config.tracking_uri, run_root.uri, "benchmark")  # before any work
    store = store or ResultsStore.of_run(run_root)
    datasets = select_datasets(read_table(inputs.domains).to_pandas(), config.datasets, inputs.domains.uri)
    encoders = {m.name: encoder_for(m, inputs.artifacts) for m in config.embeddings}
    names = [n for n, _ in datasets]
    identities = embedding_identities(config, encoders)  # revision, size, training data of each model
    splits = prepare_splits(config, inputs, names, run_root, ensure_ray)
    try:
        vectors = prepare_embeddings(config, inputs.items, names, encoders, run_root, ensure_ray=ensure_ray)
    except KeyboardInterrupt:
        raise Interrupted([f"the embeddings finished so far in {(run_root / CACHE_DIR).uri}"]) from None
    data = dataset_inputs(datasets, splits, vectors, identities)
    zero_shot = zero_shot_table(config, data, store, query_vectors(config, inputs, names, encoders, run_root,
                                                                   ensure_ray),
                                rank_jobs=cluster_scorer(work, config.resources.gpus, ensure_ray))

    chosen: dict = {}
    if config.search.enabled:
        ensure_ray()
        chosen, _ = run_search(config, data, (work / "tune").uri)
    specs = [checked(s) for s in with_keys(grid_specs(config, data, chosen), store)]  # URIs only, typed
    done, todo = split_by_store(specs, store.read())
    log.info("benchmark: %d trials, %d already in the store %s, %d to run", len(specs), len(done), store.root.uri,
             len(todo))
    failed = pd.DataFrame(columns=RESULT_COLUMNS + PROTOCOL_COLUMNS)
    failed_history = pd.DataFrame(columns=HISTORY_COLUMNS)
    if todo:
        ensure_ray()
        check_cluster(config)
        failed, failed_history = train_missing(config, specs, todo, store, run_root, work, trial_fn, callbacks)
    results, history = grid_tables(specs, store, failed, failed_history)
    n_failed = int(results[results["status"] == FAILED]["trial"].nunique()) if len(results) else 0
    return BenchOutcome(results, history, zero_shot, ran=len(todo), reused=len(done), failed=n_failed,
                        split_stats={f"{n}/{t}": s for (n, t), (_, s) in splits.items()}, specs=specs)


@dataclass
class WrittenReport:
    """The report of a grid, written, and its plain-text parts.

    Attributes:
        page: the rendered report (leaderboard, paired tests, figures).
        html: the location of its HTML page.
        zero_shot: lines of the zero-training tier's means (none when it was not scored).
        board: lines of the leaderboard.
    """

    page: Page
    html: Location
    zero_shot: list[str]
    board: list[str]


def write_report(results: pd.DataFrame, history: pd.DataFrame, zero_shot: pd.DataFrame, metrics: list[str],
                 base: str, folder: Location) -> WrittenReport:
    """Render the report of ``results`` into ``folder`` and the lines the stage's summary and
    ``gre-ray bench`` print: the one report assembly of both."""
    page = build_report(results, history, metrics, base, zero_shot=zero_shot)
    html = save_report(page, folder)
    return WrittenReport(page, html, zero_shot_lines(zero_shot), board_lines(page.board, metrics, base=base))
