"""The config arguments, defined once for every command: the config file, ``--set``
overrides and ``--address``."""

from __future__ import annotations

import argparse

from gre_ray.root_config import GreConfig, load_config

ADDRESS_HELP = "Ray cluster address to join (default: RAY_ADDRESS, else local Ray)"


def add_overrides(parser: argparse.ArgumentParser,
                  text: str = "override one setting by its dotted key, e.g. --set run.root=runs/x (repeatable)") -> None:
    """``--set KEY=VALUE`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=text)


def add_address(parser: argparse.ArgumentParser) -> None:
    """``--address``: the Ray cluster to join."""
    parser.add_argument("--address", help=ADDRESS_HELP)


def add_config_arguments(parser: argparse.ArgumentParser, address: bool = True, option_default: str = "") -> None:
    """The config file, ``--set`` and (unless ``address`` is false) ``--address``.

    Args:
        parser: the command's parser.
        address: add ``--address``.
        option_default: take the config as ``--config`` with this default (for commands whose
            positional arguments are something else); empty: an optional positional argument.
    """
    if option_default:
        parser.add_argument("--config", default=option_default, help=f"YAML config (default: {option_default})")
    else:
        parser.add_argument("config", nargs="?", help="YAML config (default: the built-in demo defaults)")
    add_overrides(parser)
    if address:
        add_address(parser)


def config_from_args(args: argparse.Namespace, *extra: str) -> GreConfig:
    """The config the arguments name, with ``--set`` overrides, then ``extra`` ones, then
    ``--address`` applied."""
    overrides = [*args.overrides, *extra]
    if getattr(args, "address", None):
        overrides.append(f"run.ray_address={args.address}")
    return load_config(args.config, overrides)
