"""Stage ``benchmark``: GRE-B, the dataset × model × embedding grid on Ray Tune.

The grid runs through the GRE-B flow, :func:`gre_ray.stages.gre_b.run_benchmark`, the same
function ``gre-ray bench`` calls: datasets resolved (a missing one stops the stage with one
ConfigError), splits and embeddings taken from the run's content-addressed caches
(computing what is missing), the zero-training tier scored, and only the trials whose key
has no result in the run's results store (``<run>/results_store``) trained, optionally
after a validation-only lr/dim search. Each finished trial appends itself to the store,
so a killed run keeps its finished trials, and a forced or changed run, or
``gre-ray bench`` later, trains only what is new.

The Tune experiments live in ``<run>/_benchmark/<key>/`` while the stage runs and move
into the stage folder when the grid is done.

Artifacts: ``results`` (tidy table with the protocol columns, history, zero-training tier,
meta), ``report`` (Markdown, HTML, PNG), ``tune`` (the Tune experiments: TensorBoard logs
per trial), ``splits`` (the splits' stats and fingerprints; the splits themselves are in
``<run>/cache/splits``). The card of a benchmarked model artifact (the GRE model of stage
``contrastive``) gains the results in its ``model-index`` metadata (:mod:`gre_ray.bench.card`).
"""
from __future__ import annotations

import logging
from typing import Any

from gre_ray.bench.card import add_results
from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.prepare import upstream_fingerprint, work_key
from gre_ray.bench.report import write_meta, write_zero_shot
from gre_ray.bench.results import FAILED, write_results
from gre_ray.bench.store import STORE_DIR
from gre_ray.data.storage import write_json
from gre_ray.ingest.registry import load_registry
from gre_ray.recsys.ce_memory import check_full_ce, device_memory
from gre_ray.runner.resources import Need, benchmark_needs
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.stages.bench_embeddings import embedding_fingerprints
from gre_ray.stages.checks import check_benchmark_datasets
from gre_ray.stages.gre_b import BenchInputs, run_benchmark, write_report
from gre_ray.tracking.check import check_tracking
from gre_ray.tracking.config import TRACKING_KEYS
from gre_ray.wiring.ray_session import ensure_ray_for

log = logging.getLogger("gre_ray")
WORK_DIR = "_benchmark"


@register
class BenchmarkStage(Stage):
    name = "benchmark"
    provides = ("results", "report", "tune", "splits")
    requires = ("items", "interactions", "domains")
    optional = ("model",)
    uses_ray = True
    version = 2  # results from the results store, with the protocol columns and the zero-training tier
    speed_settings = TRACKING_KEYS  # where metrics are also logged changes no result

    def needs(self, config: Any) -> list[Need]:
        return benchmark_needs(config.benchmark)

    def preflight(self, config: Any) -> None:
        check_benchmark_datasets(config)
        bench = config.benchmark
        check_tracking(bench.tracking, bench.tracking_uri, config.run.root, "benchmark")
        table1 = {n: e.table1.items for n, e in load_registry().items() if e.table1 and n in bench.datasets}
        device = "cuda" if bench.resources.gpus else bench.train.device
        check_full_ce(bench, table1, device, device_memory(device, bench.resources.gpus or 1.0))

    def external_inputs(self, config: Any) -> dict[str, str]:
        return embedding_fingerprints(config.benchmark)

    def run(self, ctx: StageContext) -> None:
        config: BenchmarkConfig = ctx.settings
        upstream = {a: upstream_fingerprint(loc) for a, loc in sorted(ctx.inputs.items())}
        work = ctx.run_root / WORK_DIR / work_key(config, upstream, embedding_fingerprints(config))
        inputs = BenchInputs(
            items=ctx.input("items"), interactions=ctx.input("interactions"), domains=ctx.input("domains"),
            interactions_fingerprint=upstream["interactions"],
            artifacts={a: ctx.input(a) for a in self.optional if ctx.has_input(a)},
        )
        outcome = run_benchmark(config, inputs, ctx.run_root, work, ensure_ray=ensure_ray_for(ctx.config))
        results, history = outcome.results, outcome.history
        write_results(results, history, ctx.out("results"))
        write_meta(ctx.out("results"), config.metrics, config.base)
        write_zero_shot(outcome.zero_shot, ctx.out("results"))
        report = write_report(results, history, outcome.zero_shot, config.metrics, config.base, ctx.out("report"))
        cards = [(ctx.input(m.artifact) / "README.md").uri for m in config.embeddings  # the GRE model's card
                 if m.artifact and ctx.has_input(m.artifact)
                 and add_results(ctx.input(m.artifact), results, m.name, config.metrics)]
        ctx.out("tune").mkdir()
        if (work / "tune").exists():
            for child in (work / "tune").children():
                child.move_to(ctx.out("tune") / child.name)
        write_json(ctx.out("splits") / "splits.json", outcome.split_stats)
        work.remove()
        if work.parent.exists() and not work.parent.children():
            work.parent.remove()

        trials = results.drop_duplicates("trial")
        failed = trials[trials["status"] == FAILED]
        ctx.count(rows_in=len(trials), rows_out=len(trials) - len(failed))
        for error in failed["error"]:
            ctx.quarantine("failed trial: " + error.split(":")[0], 1)
        ctx.stats.update(
            trials=len(trials),
            trained=outcome.ran,
            reused=outcome.reused,
            failed=dict(zip(failed["trial"], failed["error"])),
            splits=outcome.split_stats,
            zero_shot=report.zero_shot,
            leaderboard=report.board,
            report=(ctx.run_root / self.name / "report" / "report.html").uri,
            tensorboard=(ctx.run_root / self.name / "tune").uri,
            store=(ctx.run_root / STORE_DIR).uri,
            model_cards=cards,
        )

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        failed = stats.get("failed", {})
        lines = [f"{stats.get('trials', 0)} trials ({stats.get('trained', 0)} trained, {stats.get('reused', 0)} "
                 f"from the results store), {len(failed)} failed"]
        lines += [f"failed: {name}: {error}" for name, error in list(failed.items())[:5]]
        if stats.get("zero_shot"):
            lines.append("zero-training tier (cosine of the last item, full ranking, history masked):")
            lines += ["  " + line for line in stats["zero_shot"]]
        lines.append("leaderboard (mean over datasets of mean over seeds ± std over seeds; gain over ID-only):")
        lines += ["  " + line for line in stats.get("leaderboard", [])]
        lines.append(f"report: {stats.get('report', '')}")
        lines += [f"model card with the GRE-B results (model-index): {card}" for card in stats.get("model_cards", [])]
        lines.append(f"TensorBoard: tensorboard --logdir {stats.get('tensorboard', '')}")
        return lines
