"""The ``gre-ray`` command line: parse arguments, call one function, report user errors in one line.

Subcommands live in :mod:`gre_ray.commands`, one module each, with ``add_parser`` and
``main``. A :class:`~gre_ray.errors.UserError` (bad config, missing file, broken data) is
printed as ``gre-ray: error: ...`` with exit status 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gre_ray.errors import UserError

COMMANDS = ("run", "config", "datasets", "report", "embed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gre-ray",
        description="Train GRE text embeddings for recommendation and run the GRE-B benchmark on Ray.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gre_ray.commands.{name}").add_parser(sub)
    return parser


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error, also when Ray wrapped it in a task error."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, UserError):
            cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError keeps the original here
            return str(cause if isinstance(cause, UserError) else exc).splitlines()[0]
        exc = getattr(exc, "cause", None) or exc.__cause__
        seen += 1
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("gre-ray: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - user errors become one line, bugs re-raise
        message = user_error_message(exc)
        if message is None:
            raise
        print(f"gre-ray: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
