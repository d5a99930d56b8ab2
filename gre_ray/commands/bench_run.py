"""``gre-ray bench MODEL [MODEL...]``: any embedding model on GRE-B, next to everything measured.

A model is named the way a user has it at hand:

* a name of the config's ``benchmark.embeddings`` (``minilm``, ``gre``): that entry;
* ``minilm`` (the shipped all-MiniLM-L6-v2), a model folder or a Hugging Face Hub id: a
  Sentence-Transformers / transformers model (:mod:`gre_ray.embed.encoder`);
* ``vectors:FOLDER``: precomputed vectors, ``FOLDER/<dataset>.parquet``
  (:mod:`gre_ray.embed.precomputed`);
* ``http(s)://HOST/v1#MODEL``: an OpenAI-compatible embeddings endpoint serving ``MODEL``
  (:mod:`gre_ray.embed.endpoint`).

The run folder's upstream stages (those providing items, interactions and domains) are
brought up to date through the runner, so nothing is ingested again when it is current;
then :func:`gre_ray.stages.gre_b.run_benchmark` trains only the trials whose key the results
store lacks, and the leaderboard gathers every stored trial measured the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel, resolve_model
from gre_ray.bench.prepare import select_datasets, upstream_fingerprint
from gre_ray.bench.report import protocol_text
from gre_ray.bench.reuse import comparable_rows, embedding_entries, latest_per_name, store_tables
from gre_ray.bench.scope import ingest_names, narrow_ingest, previous_ingest, wanted_datasets
from gre_ray.bench.store import ZERO_SHOT, ResultsStore
from gre_ray.bench.trial_spec import TrialSpec
from gre_ray.data.storage import Location, read_json, read_table
from gre_ray.errors import ConfigError
from gre_ray.ingest.sources import missing_files
from gre_ray.recsys.fusion_config import FusionMode
from gre_ray.recsys.models import ModelName
from gre_ray.recsys.models.base import Task
from gre_ray.root_config import StageName
from gre_ray.runner.manifest import read_manifest
from gre_ray.runner.runner import plan, run_pipeline, upstream_closure
from gre_ray.stages import registry
from gre_ray.stages.gre_b import BenchInputs, BenchOutcome, run_benchmark, write_report
from gre_ray.wiring.ray_session import ensure_ray_for, start_ray
from gre_ray.wiring.tune_grid import placed_trial

UPSTREAM = ("items", "interactions", "domains")
WORK_DIR = "_bench"


def needed_stages(config: Any, artifacts: set[str]) -> list[str]:
    """The config's stages that provide ``artifacts``, with everything they read from."""
    names = [str(getattr(s, "value", s)) for s in config.run.stages]
    planned = plan(names if "benchmark" in names else [*names, "benchmark"], registry())
    providers = {a: p.stage.name for p in planned for a in p.stage.provides}
    missing = sorted(a for a in artifacts if a not in providers)
    if missing:
        raise ConfigError(f"bench: no stage of run.stages provides {', '.join(missing)}")
    closure = upstream_closure(planned, [providers[a] for a in artifacts])
    return [p.stage.name for p in planned if p.stage.name in closure]


def bench_config(
    config: BenchmarkConfig, models: list[EmbeddingModel], *, datasets: list[str] | None = None,
    recommenders: list[str] | None = None, seeds: list[int] | None = None, fusions: list[str] | None = None,
) -> BenchmarkConfig:
    """The config's benchmark settings with the models and the command line's choices."""
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"bench: two models get the same name {names}; name them in the config instead")
    try:
        return dataclasses.replace(
            config,
            embeddings=models,
            datasets=list(datasets) if datasets is not None else config.datasets,
            models=[ModelName(m) for m in recommenders] if recommenders else config.models,
            seeds=list(seeds) if seeds else config.seeds,
            fusions=[FusionMode(f) for f in fusions] if fusions else config.fusions,
            base_embedding=config.base if config.base in names else "",
            search=dataclasses.replace(config.search, embedding="id") if config.search.embedding not in names
            else config.search,
        )
    except ValueError as exc:
        raise ConfigError(f"bench: {exc}") from None


def bench_ingest(config: Any, asked: list[str], scenarios: list[str] | None) -> Any:
    """The ingest settings ``bench`` runs: the asked datasets only (:mod:`gre_ray.bench.scope`),
    or the run folder's current ingest when it already holds them and its raw files are there."""
    keep = wanted_datasets(config.ingest, asked, scenarios)
    if not keep:
        raise ConfigError(f"bench: no dataset of ingest.datasets/sources is in scenario(s) {', '.join(scenarios or [])}")
    previous = previous_ingest(read_manifest(Location.of(config.run.root) / "ingest"))
    settings = narrow_ingest(config.ingest, keep, previous)
    if ingest_names(settings) != keep and missing_files(settings):
        settings = narrow_ingest(config.ingest, keep)  # the earlier superset lost raw files: ingest the asked ones
    return settings


def upstream_artifacts(config: Any, artifacts: set[str], datasets: list[str] | None,
                       scenarios: list[str] | None) -> dict[str, Location]:
    """Bring the stages that provide ``artifacts`` up to date through the runner (ingesting
    only the asked datasets) and return where each artifact is."""
    stages = needed_stages(config, artifacts)
    upstream_config = dataclasses.replace(config, run=dataclasses.replace(config.run,
                                                                           stages=[StageName(s) for s in stages]))
    if "ingest" in stages:  # only the asked datasets' raw files are needed
        upstream_config = dataclasses.replace(upstream_config, ingest=bench_ingest(
            config, list(datasets or config.benchmark.datasets), scenarios))
    outcomes = run_pipeline(upstream_config, registry(), start_ray=start_ray)
    registered = registry()
    return {a: Location.of(o.folder) / a for o in outcomes for a in registered[o.name].provides}


def chosen_datasets(config: Any, domains: Location, datasets: list[str] | None,
                    scenarios: list[str] | None) -> list[tuple[str, str]]:
    """(dataset, scenario) of the asked datasets (default: the config's), kept to ``scenarios``."""
    chosen = select_datasets(read_table(domains).to_pandas(), list(datasets or config.benchmark.datasets),
                             domains.uri)
    if scenarios:
        known = sorted({s for _, s in chosen})
        unknown = [s for s in scenarios if s not in known]
        if unknown:
            raise ConfigError(f"bench: --scenario {', '.join(unknown)} not among the datasets' scenarios "
                              f"({', '.join(known)})")
        chosen = [(n, s) for n, s in chosen if s in scenarios]
    return chosen


@dataclasses.dataclass
class BenchRun:
    """What ``gre-ray bench`` measured and the leaderboard it prints."""

    outcome: BenchOutcome
    results: pd.DataFrame  # this grid's trials and every comparable stored one
    zero_shot: pd.DataFrame
    lines: list[str]
    report: str


def bench(
    config: Any,
    models: list[str],
    *,
    datasets: list[str] | None = None,
    scenarios: list[str] | None = None,
    recommenders: list[str] | None = None,
    seeds: list[int] | None = None,
    fusions: list[str] | None = None,
    encoder: dict[str, Any] | None = None,
    api_key_env: str | None = None,
    trial_fn: Callable = placed_trial,
    callbacks: tuple = (),
) -> BenchRun:
    """Bench ``models`` on GRE-B under ``config`` and build the leaderboard.

    Args:
        config: the whole run config (``run.root`` holds the store and caches).
        models: model names (see :func:`resolve_model`).
        datasets, scenarios: restrict the config's datasets (by name, by scenario).
        recommenders, seeds, fusions: replace the config's lists.
        encoder: encoder settings applied to every model named (prefix, query_prefix,
            dim, dtype, backend, pooling, max_length, trust_remote_code).
        api_key_env: the environment variable holding the endpoints' API key.
        trial_fn, callbacks: the trial driver and Tune callbacks (tests).

    Raises:
        ConfigError, DataError: an unknown model, dataset or scenario; a model that does not
            load; bad vectors; a failing endpoint; all before the first trial.
    """
    if not models:
        raise ConfigError("bench: name at least one model")
    resolved = [resolve_model(m, config.benchmark.embeddings, encoder, api_key_env) for m in models]
    artifacts = set(UPSTREAM) | {m.artifact for m in resolved if m.artifact}
    where = upstream_artifacts(config, artifacts, datasets, scenarios)
    root = Location.of(config.run.root)
    chosen = chosen_datasets(config, where["domains"], datasets, scenarios)
    settings = bench_config(config.benchmark, resolved, datasets=[n for n, _ in chosen], recommenders=recommenders,
                            seeds=seeds, fusions=fusions)
    inputs = BenchInputs(items=where["items"], interactions=where["interactions"], domains=where["domains"],
                         interactions_fingerprint=upstream_fingerprint(where["interactions"]),
                         artifacts={a: where[a] for a in artifacts - set(UPSTREAM)})
    store = ResultsStore.of_run(root)
    outcome = run_benchmark(settings, inputs, root, root / WORK_DIR, ensure_ray=ensure_ray_for(config),
                            trial_fn=trial_fn, callbacks=callbacks, store=store)

    stored = store.read()
    others, _ = store_tables(comparable_rows(stored, outcome.specs))
    current = set(outcome.results["embedding"]) if len(outcome.results) else set()
    others = others[~others["embedding"].isin(current)]  # a name benched now shows its current content
    results = pd.concat([f for f in (outcome.results, others) if not f.empty] or [outcome.results],
                        ignore_index=True)
    zero = _comparable_zero_shot(store, outcome)
    base = settings.base or config.benchmark.base
    trials = outcome.results.drop_duplicates("trial")
    lines = [f"bench: {len(trials)} trials of {', '.join(m.name for m in resolved)} and the references: "
             f"{outcome.ran} trained, {outcome.reused} from the results store, {outcome.failed} failed",
             f"results store: {store.root.uri}", *placeholder_lines(outcome.specs)]
    written = write_report(results, outcome.history, zero, settings.metrics, base, store.root / "report")
    if not zero.empty:
        lines += ["", "zero-training tier (cosine of the user's last item; full ranking, history masked; "
                      "mean over datasets):"]
        lines += ["  " + line for line in written.zero_shot]
    lines += ["", "leaderboard (mean over datasets of mean over seeds ± std over seeds; gain over ID-only):"]
    protocol = protocol_text(results)
    if protocol:
        lines.append(protocol)
    lines += ["  " + line for line in written.board]
    lines.append(f"report: {written.html.uri}")
    return BenchRun(outcome, results, zero, lines, written.html.uri)


def placeholder_lines(specs: list[dict[str, Any]]) -> list[str]:
    """One line per embedding whose endpoint was sent a placeholder for items without text,
    from the cache entries' manifests (:mod:`gre_ray.embed.endpoint`)."""
    counts: dict[str, dict[str, int]] = {}
    entries = embedding_entries(specs)
    for embedding, dataset, path in sorted(e for e in entries if e[2]):
        manifest = Location.of(path).parent / "manifest.json"
        placeholders = int(read_json(manifest).get("placeholder_items", 0)) if manifest.exists() else 0
        if placeholders:
            counts.setdefault(embedding, {})[dataset] = placeholders
    return [f"{name}: {sum(per.values())} item(s) without text embedded as the endpoint's placeholder "
            f"({', '.join(f'{d} {n}' for d, n in per.items())})" for name, per in counts.items()]


def _comparable_zero_shot(store: ResultsStore, outcome: BenchOutcome) -> pd.DataFrame:
    """Stored zero-training rows on this grid's retrieval splits (every embedding measured)."""
    rows = store.read(ZERO_SHOT)
    if rows.empty:
        return outcome.zero_shot
    typed = [TrialSpec.of(s) for s in outcome.specs]
    splits = {s.split_fingerprint for s in typed if s.task is Task.RETRIEVAL}
    rows = latest_per_name(rows[rows["split_fingerprint"].isin(splits)])
    current = set(outcome.zero_shot["embedding"]) if len(outcome.zero_shot) else set()
    rows = rows[~rows["embedding"].isin(current)]
    return pd.concat([f for f in (outcome.zero_shot, rows) if not f.empty] or [outcome.zero_shot],
                     ignore_index=True)[outcome.zero_shot.columns]
