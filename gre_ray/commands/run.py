"""``gre-ray run CONFIG``: run the config's stages through the runner and print a summary."""

from __future__ import annotations

import argparse

from gre_ray.commands import COMMANDS
from gre_ray.commands.common import add_config_arguments, config_from_args
from gre_ray.pipeline import run_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help=COMMANDS["run"])
    add_config_arguments(parser)
    parser.add_argument("--force", action="append", default=[], metavar="STAGE", help="rerun STAGE even if up to date")
    parser.add_argument(
        "--only", action="append", default=[], metavar="STAGE", help="run only STAGE (its inputs must be up to date)"
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    run_config(config_from_args(args), force=tuple(args.force), only=tuple(args.only), echo=print)
    return 0
