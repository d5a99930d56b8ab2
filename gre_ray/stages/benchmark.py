"""Stage ``benchmark``: GRE-B, the dataset × model × embedding grid on Ray Tune.

Before the first trial: the datasets are resolved (a missing one stops the stage with one
ConfigError), each dataset's splits are computed once in parallel Ray tasks and saved, and
the embeddings of each (dataset, embedding model) are taken from the embedding stage's
content-addressed cache, computing those that are missing. Then a Tune grid runs one trial
per (dataset, model, variant, seed) (:mod:`gre_ray.bench.tune_grid`), optionally after a
validation-only lr/dim search.

The splits and the Tune experiment live in ``<run>/_benchmark/<key>/`` while the stage
runs (``key`` hashes the settings and the upstream fingerprints), outside the stage's
temporary folder, so a killed run restores the experiment and runs only unfinished trials.
When the grid is done they move into the stage folder.

Artifacts: ``results`` (tidy table, history, meta), ``report`` (Markdown, HTML, PNG),
``tune`` (the Tune experiment: TensorBoard logs per trial), ``splits``.
"""

from __future__ import annotations

import logging
from typing import Any

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.embeddings import embedding_fingerprints, encoder_for, prepare_embeddings
from gre_ray.bench.prepare import (
    build_split, check_resources, select_datasets, split_configs, upstream_fingerprint, work_key,
)
from gre_ray.bench.report import board_lines, build_report, save_report, write_meta
from gre_ray.bench.results import FAILED, history_table, results_table, write_results
from gre_ray.bench.search import run_search
from gre_ray.bench.trials import DatasetInputs, grid_specs, slug
from gre_ray.bench.tune_grid import run_grid
from gre_ray.data.storage import Location, read_table
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register

log = logging.getLogger("gre_ray")
WORK_DIR = "_benchmark"


@register
class BenchmarkStage(Stage):
    name = "benchmark"
    provides = ("results", "report", "tune", "splits")
    requires = ("items", "interactions", "domains")
    optional = ("model",)
    uses_ray = True

    def external_inputs(self, config: Any) -> dict[str, str]:
        return embedding_fingerprints(config.benchmark)

    def run(self, ctx: StageContext) -> None:
        import ray

        config: BenchmarkConfig = ctx.settings
        domains_loc = ctx.input("domains")
        datasets = select_datasets(read_table(domains_loc).to_pandas(), config.datasets, domains_loc.uri)
        artifacts = {a: ctx.input(a) for a in self.optional if ctx.has_input(a)}
        encoders = {m.name: encoder_for(m, artifacts) for m in config.embeddings}  # a missing artifact fails here
        check_resources(config, ray.cluster_resources())
        upstream = {a: upstream_fingerprint(loc) for a, loc in sorted(ctx.inputs.items())}
        work = ctx.run_root / WORK_DIR / work_key(config, upstream, self.external_inputs(ctx.config))
        log.info("benchmark: %d datasets, work folder %s", len(datasets), work.uri)

        inputs, split_stats = self._prepare(ctx, datasets, encoders, work)
        chosen: dict = {}
        search_table = None
        if config.search.enabled:
            chosen, search_table = run_search(config, inputs, (work / "tune").uri)
            ctx.stats["search"] = search_table[search_table["chosen"]].to_dict("records")
        records = run_grid(grid_specs(config, inputs, chosen), (work / "tune").uri, "grid", config.resources)

        results, history = results_table(records), history_table(records)
        write_results(results, history, ctx.out("results"))
        write_meta(ctx.out("results"), config.metrics, config.base)
        if search_table is not None:
            (ctx.out("results") / "search.csv").write_text(search_table.to_csv(index=False))
        report = build_report(results, history, config.metrics, config.base)
        save_report(report, ctx.out("report"))
        (work / "tune").move_to(ctx.out("tune"))
        (work / "splits").move_to(ctx.out("splits"))
        work.remove()
        if not work.parent.children():
            work.parent.remove()

        trials = results.drop_duplicates("trial")
        failed = trials[trials["status"] == FAILED]
        ctx.count(rows_in=len(trials), rows_out=len(trials) - len(failed))
        for error in failed["error"]:
            ctx.quarantine("failed trial: " + error.split(":")[0], 1)
        ctx.stats.update(
            trials=len(trials),
            failed=dict(zip(failed["trial"], failed["error"])),
            splits=split_stats,
            leaderboard=board_lines(report.board, config.metrics, base=config.base),
            report=(ctx.run_root / self.name / "report" / "report.html").uri,
            tensorboard=(ctx.run_root / self.name / "tune").uri,
        )

    @staticmethod
    def _prepare(
        ctx: StageContext, datasets: list[tuple[str, str]], encoders: dict[str, Any], work: Location
    ) -> tuple[list[DatasetInputs], dict[str, Any]]:
        """Save every split (once per dataset and task, in parallel Ray tasks) and get every
        (dataset, embedding model)'s vectors from the cache; returns the grid's inputs and
        the splits' stats."""
        import ray

        config: BenchmarkConfig = ctx.settings
        task = ray.remote(num_cpus=1)(build_split)
        jobs = {}
        for name, _ in datasets:
            for kind, split_cfg in split_configs(config, name).items():
                dest = (work / "splits" / slug(name) / kind).uri
                jobs[(name, kind)] = (dest, task.remote(ctx.input("interactions").uri, name, split_cfg, dest))
        split_stats = {f"{n}/{k}": ray.get(ref) for (n, k), (_, ref) in jobs.items()}
        vectors = prepare_embeddings(config, ctx.input("items"), [n for n, _ in datasets], encoders, ctx.run_root)
        inputs = [
            DatasetInputs(name, scenario, {k: d for (n, k), (d, _) in jobs.items() if n == name}, vectors[name])
            for name, scenario in datasets
        ]
        return inputs, split_stats

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        failed = stats.get("failed", {})
        lines = [f"{stats.get('trials', 0)} trials, {len(failed)} failed"]
        lines += [f"failed: {name}: {error}" for name, error in list(failed.items())[:5]]
        lines.append("leaderboard (mean over datasets of mean over seeds ± std over seeds; gain over ID-only):")
        lines += ["  " + line for line in stats.get("leaderboard", [])]
        lines.append(f"report: {stats.get('report', '')}")
        lines.append(f"TensorBoard: tensorboard --logdir {stats.get('tensorboard', '')}")
        return lines
