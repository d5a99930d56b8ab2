"""``gre-ray export RUN --out FILE.json``: the GRE-B result bundle of a benchmark run."""

from __future__ import annotations

import argparse

from gre_ray.commands import COMMANDS
from gre_ray.bench.bundle import SCHEMA_VERSION, build_bundle, write_bundle


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", help=COMMANDS["export"],
        description="Write a self-describing JSON bundle of a run's GRE-B results: model identities, datasets "
                    "(fingerprints, statistics), protocol, per-seed metrics of every trial, leaderboard, "
                    "significance tests, code version. Merge bundles with `gre-ray report --bundle A --bundle B`.",
    )
    parser.add_argument("run", metavar="RUN", help="a run folder, its benchmark folder, or a results file")
    parser.add_argument("--out", required=True, metavar="FILE.json", help="where to write the bundle")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    bundle = build_bundle(args.run)
    loc = write_bundle(bundle, args.out)
    trials = len({t["trial"] for t in bundle["trials"]})
    print(f"bundle (schema version {SCHEMA_VERSION}): {loc.uri}: {trials} trials on {len(bundle['datasets'])} "
          f"datasets, models {', '.join(bundle['models']) or '-'}")
    return 0
