"""The report renders: Markdown, and an HTML page with every plot embedded; ``gre-ray report``."""

from __future__ import annotations

import base64

from gre_ray.bench.report import build_report, write_meta
from gre_ray.bench.results import write_results
from gre_ray.cli import main
from gre_ray.data.storage import Location
from tests.bench.synthetic import history_frame, results_frame

METRICS = ["ndcg@10", "recall@10", "auc", "logloss"]
PNG = base64.b64encode(b"\x89PNG").decode()[:6]


def test_report_embeds_every_plot_and_names_failures():
    results = results_frame(failed=("a-sasrec-gre-add-s0",))
    report = build_report(results, history_frame(results), METRICS, base="base")
    assert set(report.figures) == {"gain_per_scenario.png", "gain_heatmap.png", "training_curves.png"}
    assert all(png.startswith(b"\x89PNG") for png in report.figures.values())
    assert report.html.count(f"src='data:image/png;base64,{PNG}") == 3
    assert "a-sasrec-gre-add-s0" in report.markdown and "RuntimeError: boom" in report.html
    assert "Paired Wilcoxon" in report.markdown and "(+" in report.markdown
    assert "<pre>model   metric" in report.html and "```" not in report.html


def test_gre_ray_report_command_reads_a_run_folder(tmp_path, capsys):
    results = results_frame()
    folder = Location.of(tmp_path / "run" / "benchmark" / "results")
    write_results(results, history_frame(results), folder)
    write_meta(folder, METRICS, "base")
    assert main(["report", str(tmp_path / "run")]) == 0
    page = tmp_path / "run" / "benchmark" / "report" / "report.html"
    assert f"report: {page}" in capsys.readouterr().out
    assert page.read_text().count("data:image/png;base64,") == 3
    assert (page.parent / "report.md").exists() and (page.parent / "gain_heatmap.png").exists()


def test_gre_ray_report_on_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no GRE-B results found" in capsys.readouterr().err
