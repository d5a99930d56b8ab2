"""``gre-ray config``: print the resolved config (file, defaults and overrides) as YAML."""

from __future__ import annotations

import argparse

import yaml

from gre_ray.commands import COMMANDS
from gre_ray.commands.common import add_config_arguments, config_from_args
from gre_ray.config.loader import to_dict


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help=COMMANDS["config"])
    add_config_arguments(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    print(yaml.safe_dump(to_dict(config_from_args(args)), sort_keys=False), end="")
    return 0
