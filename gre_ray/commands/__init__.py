"""Subcommands of ``gre-ray``; each module has ``add_parser(subparsers)`` and sets ``handler``."""
