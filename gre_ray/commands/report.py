"""``gre-ray report RUN_FOLDER_OR_RESULTS``: render the GRE-B report of a benchmark run."""

from __future__ import annotations

import argparse

from gre_ray.commands import COMMANDS
from gre_ray.bench.report import write_report
from gre_ray.errors import DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report", help=COMMANDS["report"]
    )
    parser.add_argument(
        "source", metavar="RUN_FOLDER_OR_RESULTS", nargs="?",
        help="a run folder, a benchmark stage folder, or a results.parquet / results.csv file",
    )
    parser.add_argument(
        "--store", action="append", default=[], metavar="STORE",
        help="report every trial of this results store (a run folder or its results_store folder); "
             "repeat to merge several stores",
    )
    parser.add_argument(
        "--bundle", action="append", default=[], metavar="FILE.json",
        help="a result bundle of `gre-ray export`; repeat to merge several (with any --store) into one report",
    )
    parser.add_argument("--out", help="folder to write report.md and report.html into (default: beside the results)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if not args.source and not args.store and not args.bundle:
        raise DataError("report: give a run folder or results file, --store or --bundle")
    if args.source and args.bundle:
        raise DataError("report: give either a run folder or results file, or --bundle (export the run first)")
    page = write_report(args.source, args.out, stores=args.store, bundles=args.bundle)
    print(f"report: {page.uri}")
    print(f"markdown: {(page.parent / 'report.md').uri}")
    return 0
