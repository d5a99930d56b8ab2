"""Run a whole config on the cluster in ``RAY_ADDRESS``: ``python -m jobs.pipeline --config C --set k=v``."""

from __future__ import annotations

import argparse
import sys

from gre_ray.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.pipeline", description=__doc__)
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/gre_b.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--force", action="append", default=[], metavar="STAGE")
    args = parser.parse_args(argv)
    forwarded = ["run", args.config]
    for override in args.overrides:
        forwarded += ["--set", override]
    for stage in args.force:
        forwarded += ["--force", stage]
    return cli_main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
