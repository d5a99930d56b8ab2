"""Arguments every config-driven command shares: the config file and ``--set`` overrides."""

from __future__ import annotations

import argparse

from gre_ray.root_config import GreConfig, load_config


def add_config_arguments(parser: argparse.ArgumentParser, address: bool = True) -> None:
    parser.add_argument("config", nargs="?", help="YAML config (default: the built-in demo defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting by its dotted key, e.g. --set run.root=runs/x (repeatable)",
    )
    if address:
        parser.add_argument("--address", help="Ray cluster address to join (default: RAY_ADDRESS, else local Ray)")


def config_from_args(args: argparse.Namespace) -> GreConfig:
    overrides = list(args.overrides)
    if getattr(args, "address", None):
        overrides.append(f"run.ray_address={args.address}")
    return load_config(args.config, overrides)
