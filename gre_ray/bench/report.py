"""The GRE-B report: leaderboards, gains, significance tests and plots as Markdown and a
self-contained HTML page (figures embedded as base64 PNG; the Markdown links PNG files
written beside it).

The report is built once as data (:class:`Section` of text, preformatted and table
blocks); the Markdown is rendered from it here and the HTML page by the Jinja2 template
``templates/report.html.j2`` (auto-escaped), so neither is parsed back from the other.
``write_report`` reads a results table (or takes one), so ``gre-ray report`` and the
benchmark stage produce the same page.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jinja2
import pandas as pd
import pyarrow.parquet as pq

from gre_ray.bench.config import ID_ONLY
from gre_ray.bench.identity import overlap_table
from gre_ray.bench.leaderboard import OVERALL, dataset_gains, headline, leaderboard, scenario_gains
from gre_ray.bench.plots import gain_chart, gain_heatmap, training_curves, variant_label
from gre_ray.bench.results import FAILED, find_results, read_results
from gre_ray.bench.stats import ALL_MODELS, paired_tests
from gre_ray.data.storage import Location, read_json, write_json
from gre_ray.errors import DataError
from gre_ray.recsys.metric_table import REPORTED

META_FILE = "meta.json"
DEFAULT_METRICS = REPORTED


@dataclass
class Report:
    """A rendered report: Markdown, HTML, the figures (name → PNG bytes) and the leaderboard."""

    markdown: str
    html: str
    figures: dict[str, bytes] = field(default_factory=dict)
    board: pd.DataFrame = field(default_factory=pd.DataFrame)


def _cell(mean: float, std: float, gain: float | None = None) -> str:
    text = f"{mean:.4f}" + (f" ± {std:.4f}" if math.isfinite(std) else "")
    if gain is not None and math.isfinite(gain):
        text += f" ({gain * 100:+.1f}%)"
    return text


def board_lines(board: pd.DataFrame, metrics: list[str], scope: str = OVERALL, base: str = "") -> list[str]:
    """A plain-text leaderboard of ``scope``: model × metric rows, one column per variant
    (``mean ± std (gain over ID-only)``), ID-only first, then the base embedding's."""
    rows = board[board["scope"] == scope]
    rows = rows[rows["metric"].isin(metrics)]
    if rows.empty:
        return ["(no successful trials)"]
    rows = rows.assign(variant=[variant_label(e, f) for e, f in zip(rows["embedding"], rows["fusion"])])
    variants = sorted(rows["variant"].unique(), key=lambda v: (v != ID_ONLY, not v.startswith(f"{base}-"), v))
    table = [["model", "metric", *variants]]
    for (model, metric), group in rows.groupby(["model", "metric"], sort=False):
        cells = {r.variant: _cell(r.mean, r.std, None if r.embedding == ID_ONLY else r.gain_vs_id)
                 for r in group.itertuples()}
        table.append([model, metric, *[cells.get(v, "-") for v in variants]])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]


@dataclass
class Block:
    """One piece of a section: a paragraph (``text``), preformatted lines (``pre``) or a ``table``."""

    kind: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Section:
    """A titled part of the report."""

    title: str
    blocks: list[Block]


def _text(text: str) -> Block:
    return Block("text", text)


def _pre(lines: list[str]) -> Block:
    return Block("pre", "\n".join(lines))


def _table(frame: pd.DataFrame) -> Block:
    """A table block; cells formatted once (:func:`_fmt`) for both renderings."""
    return Block("table", columns=[str(c) for c in frame.columns],
                 rows=[[_fmt(v) for v in row] for row in frame.itertuples(index=False)])


def _md_block(block: Block) -> str:
    if block.kind == "text":
        return block.text
    if block.kind == "pre":
        return f"```\n{block.text}\n```"
    if not block.rows:
        return "_none_"
    text = [" | ".join(block.columns), " | ".join("---" for _ in block.columns)]
    text += [" | ".join(row) for row in block.rows]
    return "\n".join(f"| {line} |" for line in text)


def render_markdown(sections: list[Section], figures: dict[str, bytes]) -> str:
    """The Markdown report; figures are linked as PNG files written beside it."""
    md = ["# GRE-B report\n"]
    for section in sections:
        md.append(f"## {section.title}\n\n" + "\n\n".join(_md_block(b) for b in section.blocks) + "\n")
    if figures:
        md.append("## Figures\n")
    md += [f"![{name}]({name})\n" for name in figures]
    return "\n".join(md)


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gre_ray.bench", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def render_html(sections: list[Section], figures: dict[str, bytes]) -> str:
    """The self-contained HTML page (``templates/report.html.j2``), figures embedded as base64 PNG."""
    return _TEMPLATES.get_template("report.html.j2").render(
        sections=sections,
        figures=[(name, base64.b64encode(png).decode()) for name, png in figures.items()],
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "/")  # a Markdown table cell cannot hold "|"


def _gain_table(board: pd.DataFrame) -> pd.DataFrame:
    rows = board[board["embedding"] != ID_ONLY][["scope", "model", "embedding", "fusion", "metric", "mean",
                                                 "gain_vs_id", "gain_vs_base"]].copy()
    for column in ("gain_vs_id", "gain_vs_base"):
        rows[column] = [f"{g * 100:+.1f}%" if math.isfinite(g) else "" for g in rows[column] + 0.0]
    return rows


def _scenario_table(board: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    rows = headline(board, metrics)
    rows = rows.assign(variant=[variant_label(e, f) for e, f in zip(rows["embedding"], rows["fusion"])])
    table = rows.pivot_table(index=["model", "metric", "variant"], columns="scope", values="mean", sort=False)
    table = table.reset_index()
    order = table["variant"].ne(ID_ONLY)
    return table.assign(_o=order).sort_values(["model", "_o", "variant"]).drop(columns="_o")


ZERO_SHOT_FILE = "zero_shot.parquet"
ZERO_SHOT_PROTOCOL = ("Protocol: full ranking over every item of the dataset, the user's earlier items masked, "
                      "leave-one-out split (the test users of SASRec and DSSM); score: cosine between the user's "
                      "last item and each candidate, nothing trained.")


def zero_shot_board(zero_shot: pd.DataFrame) -> pd.DataFrame:
    """Zero-training tier: one row per embedding, a column per (dataset, metric) and the
    mean over datasets, best ``ndcg@10`` first."""
    if zero_shot is None or zero_shot.empty:
        return pd.DataFrame()
    table = zero_shot.pivot_table(index="embedding", columns=["metric", "dataset"], values="value")
    means = zero_shot.groupby(["embedding", "metric"])["value"].mean().unstack("metric")
    out = pd.DataFrame({f"{m} (mean)": means[m] for m in means.columns})
    for metric, dataset in table.columns:
        out[f"{metric} {dataset}"] = table[(metric, dataset)]
    first = "ndcg@10 (mean)" if "ndcg@10 (mean)" in out.columns else out.columns[0]
    return out.sort_values(first, ascending=False).reset_index()


def zero_shot_lines(zero_shot: pd.DataFrame) -> list[str]:
    """Plain-text lines of the zero-training tier's means (best first)."""
    board = zero_shot_board(zero_shot)
    if board.empty:
        return []
    cols = ["embedding"] + [c for c in board.columns if c.endswith("(mean)")]
    rows = [cols] + [[str(r[0])] + [f"{v:.4f}" for v in r[1:]] for r in board[cols].itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def protocol_text(results: pd.DataFrame) -> str:
    """One sentence per task of how its metrics were measured, read from the protocol columns."""
    if results.empty or "protocol" not in results.columns:
        return ""
    parts = []
    trials = results.drop_duplicates("trial")
    for (task, protocol, split, masked), group in trials.groupby(["task", "protocol", "split_kind", "history_masked"]):
        models = ", ".join(sorted(group["model"].unique()))
        ranking = {"full": "full ranking over every item", "sampled": "sampled negatives",
                   "labelled": "rated items"}.get(protocol, str(protocol))
        mask = "history masked" if bool(masked) else "no history masking"
        parts.append(f"{task} ({models}): {ranking}, {split} split, {mask}")
    return "Protocol: " + "; ".join(parts) + "."


def write_zero_shot(zero_shot: pd.DataFrame, folder: Location) -> None:
    """Write the zero-training tier beside the results."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    pq.write_table(pa.Table.from_pandas(zero_shot, preserve_index=False), (folder / ZERO_SHOT_FILE).path,
                   filesystem=folder.fs)


def build_report(results: pd.DataFrame, history: pd.DataFrame, metrics: list[str], base: str = "",
                 zero_shot: pd.DataFrame | None = None, notes: Sequence[str] = ()) -> Report:
    """Render the report of ``results``.

    Args:
        results: the tidy results table.
        history: the per-epoch history (may be empty: no curves).
        metrics: leaderboard metrics.
        base: the base embedding model of the comparisons.
        zero_shot: the zero-training tier (first in the report when given).
        notes: lines on where the rows came from (a merged report's sources), first.
    """
    board = leaderboard(results, metrics, base)
    tests = paired_tests(results, metrics, base)
    failed = results[results["status"] == FAILED].drop_duplicates("trial")[["trial", "error", "failures"]]
    figures = {name: png for name, png in (
        ("gain_per_scenario.png", gain_chart(scenario_gains(board, metrics))),
        ("gain_heatmap.png", gain_heatmap(dataset_gains(results, metrics))),
        ("training_curves.png", training_curves(history)),
    ) if png is not None}
    trials = results.drop_duplicates("trial")
    summary = (f"{len(trials)} trials ({(trials['status'] != FAILED).sum()} ok, {len(failed)} failed) on "
               f"{trials['dataset'].nunique()} datasets, {trials['model'].nunique()} models, "
               f"{trials['embedding'].nunique()} embeddings (incl. ID-only), seeds {sorted(map(int, trials['seed'].unique()))}; "
               f"base embedding: {base or '-'}.")
    key_tests = tests[tests["model"] == ALL_MODELS] if not tests.empty else tests
    protocol = [_text(text)] if (text := protocol_text(results)) else []
    zero = zero_shot_board(zero_shot) if zero_shot is not None else pd.DataFrame()
    sections = [Section("Sources", [_text(n) for n in notes])] if notes else []
    sections += [Section("Zero-training tier (embedding alone)", [_text(ZERO_SHOT_PROTOCOL), _table(zero)])] \
        if not zero.empty else []
    sections += [
        Section("Summary", [_text(summary), _text(
            "Scores are the mean over datasets of the mean over seeds, ± the standard deviation over seeds; "
            "percentages are gains over ID-only (signed so that + is better).")]),
        Section("Overall leaderboard", protocol + [_pre(board_lines(board, metrics, base=base))]),
        Section("Per scenario (headline metric)", protocol + [_table(_scenario_table(board, metrics))]),
        Section("Gains over ID-only and the base model", protocol + [_table(_gain_table(board))]),
        Section("Paired Wilcoxon tests, all models (headline metrics)", [_table(key_tests)]),
        Section("Paired Wilcoxon tests per model", [_table(tests[tests["model"] != ALL_MODELS])]),
        Section("Failed trials", [_table(failed)]),
    ]
    seen = overlap_table(results)
    if not seen.empty:
        sections.insert(sections.index(next(s for s in sections if s.title == "Summary")) + 1, Section(
            "Flagged: embeddings measured on data they were trained on",
            [_text(f"{len(seen)} (embedding, dataset) pair(s): the embedding's training saw the GRE-B dataset it is "
                   "measured on, so these rows are not a held-out measurement."), _table(seen)]))
    return Report(render_markdown(sections, figures), render_html(sections, figures), figures, board)


def write_report(source: str | None, out: str | None = None, stores: Sequence[str] = (),
                 bundles: Sequence[str] = ()) -> Location:
    """Read the results behind ``source``, or every trial of the results ``stores``
    (merged: a trial stored twice counts once), or of result ``bundles`` and stores merged
    (:mod:`gre_ray.bench.merge`), and write ``report.md``, ``report.html`` and the figures
    into ``out`` (default: a ``report`` folder beside the results folder, or inside the
    first store, or beside the first bundle).

    Returns:
        The location of ``report.html``.

    Raises:
        DataError: no results behind ``source``, a path in ``stores`` holding no store, a
            bundle of another schema version, or sources that measured a dataset on other
            data or under another protocol.
    """
    if bundles:
        from gre_ray.bench.merge import merged_report

        report, first = merged_report(bundles, stores)
        return save_report(report, Location.of(out) if out else first.parent / "report")
    if stores:
        from gre_ray.bench.reuse import store_tables
        from gre_ray.bench.store import ZERO_SHOT, find_store, read_stores

        found = []
        for path in stores:
            store = find_store(path)
            if store is None:
                raise DataError(f"{path}: no GRE-B results store (looked for trials/ and zero_shot/ in it and in "
                                f"its results_store/)")
            found.append(store)
        results, history = store_tables(read_stores(found))
        report = build_report(results, history, DEFAULT_METRICS, "", zero_shot=read_stores(found, ZERO_SHOT))
        return save_report(report, Location.of(out) if out else found[0].root / "report")
    results_loc = find_results(source or ".")
    results, history = read_results(results_loc.uri)
    meta_loc = results_loc.parent / META_FILE
    meta = read_json(meta_loc) if meta_loc.exists() else {}
    zero_loc = results_loc.parent / ZERO_SHOT_FILE
    zero = pq.read_table(zero_loc.path, filesystem=zero_loc.fs).to_pandas() if zero_loc.exists() else None
    report = build_report(results, history, meta.get("metrics", DEFAULT_METRICS), meta.get("base", ""), zero_shot=zero)
    folder = Location.of(out) if out else results_loc.parent.parent / "report"
    return save_report(report, folder)


def save_report(report: Report, folder: Location) -> Location:
    """Write a rendered report into ``folder``; returns the HTML page's location."""
    folder.mkdir()
    (folder / "report.md").write_text(report.markdown)
    (folder / "report.html").write_text(report.html)
    for name, png in report.figures.items():
        with folder.fs.open_output_stream((folder / name).path) as stream:
            stream.write(png)
    return folder / "report.html"


def write_meta(folder: Location, metrics: list[str], base: str) -> None:
    """Record the leaderboard metrics and base embedding beside the results, for ``gre-ray report``."""
    write_json(folder / META_FILE, {"metrics": list(metrics), "base": base})

