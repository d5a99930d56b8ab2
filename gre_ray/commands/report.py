"""``gre-ray report RUN_FOLDER_OR_RESULTS``: render the GRE-B report of a benchmark run."""

from __future__ import annotations

import argparse

from gre_ray.bench.report import write_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report", help="write the GRE-B report (Markdown + self-contained HTML) of a run folder or results file"
    )
    parser.add_argument(
        "source", metavar="RUN_FOLDER_OR_RESULTS",
        help="a run folder, a benchmark stage folder, or a results.parquet / results.csv file",
    )
    parser.add_argument("--out", help="folder to write report.md and report.html into (default: beside the results)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    page = write_report(args.source, args.out)
    print(f"report: {page.uri}")
    print(f"markdown: {(page.parent / 'report.md').uri}")
    return 0
