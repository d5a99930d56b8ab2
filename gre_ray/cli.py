"""The ``gre-ray`` command line: parse arguments, call one function, report user errors in one line.

Subcommands live in :mod:`gre_ray.commands`, one module each, with ``add_parser`` and
``main``; only the module of the command being run is imported, so ``gre-ray --help`` and
``gre-ray config`` load neither torch nor Ray. A :class:`~gre_ray.errors.UserError` (bad
config, missing file, broken data) is printed as ``gre-ray: error: ...`` with exit status
2; anything else is a bug and keeps its traceback. SIGINT and SIGTERM stop a command cleanly (:mod:`gre_ray.runner.interrupt`):
one line says what was kept and how to resume, and the exit status is 130 (143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

from gre_ray import errors
from gre_ray.commands import COMMANDS
from gre_ray.errors import UserError
from gre_ray.runner import interrupt, quiet


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``gre-ray`` parser.

    Args:
        only: the command whose module is imported for its full arguments; every other
            command is listed by name and help alone. None imports every command's module
            (tests); ``""`` none (``gre-ray --help``).
    """
    parser = argparse.ArgumentParser(
        prog="gre-ray",
        description="Train GRE text embeddings for recommendation and run the GRE-B benchmark on Ray.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="log debug messages, and the third-party warnings and load reports hidden by default",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        if only is None or only == name:
            importlib.import_module(f"gre_ray.commands.{name}").add_parser(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def chosen_command(argv: list[str]) -> str:
    """The command an argument list runs (its first word that names one), or ``""``."""
    return next((word for word in argv if word in COMMANDS), "")


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error, also when Ray wrapped it in a task error.

    Ray Core keeps the original exception (``RayTaskError.cause``); Ray Data does not: a
    UDF's exception reaches the driver as a ``UserCodeException`` whose text holds the
    worker's traceback, so a user error raised inside a Ray Data task or actor is found
    by its last line (``gre_ray.errors.DataError: <message>``).
    """
    error = errors.find_user_error(exc)
    if error is not None:
        return str(error).splitlines()[0]
    return _user_error_in_worker_traceback(str(exc))


_WORKER_ERROR = re.compile(r"^gre_ray\.errors\.(\w+): (.+)$", re.MULTILINE)


def _user_error_in_worker_traceback(text: str) -> str | None:
    """The message of the last ``gre_ray.errors`` user error printed in a worker traceback."""
    for name, message in reversed(_WORKER_ERROR.findall(text)):
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, UserError):
            return message
    return None


class _CurrentStderrHandler(logging.StreamHandler):
    """A log handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    ``logging.basicConfig`` binds the stream it finds at the first call; when ``main`` runs
    more than once in a process (tests capturing output, notebooks) that stream may since
    have been closed, and every later record would fail with a logging error.
    """

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(verbose: bool) -> None:
    """Timestamped log lines on stderr, installed once per process; third-party noise hidden
    unless ``verbose`` (:mod:`gre_ray.runner.quiet`)."""
    quiet.configure(verbose)
    root = logging.getLogger()
    if not any(isinstance(handler, _CurrentStderrHandler) for handler in root.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(chosen_command(words)).parse_args(words)
    _configure_logging(args.verbose)
    with interrupt.handlers():
        try:
            return int(args.handler(args) or 0)
        except KeyboardInterrupt as exc:
            print(interrupt.message(exc, sys.argv[1:] if argv is None else argv), file=sys.stderr)
            return interrupt.exit_status()
        except Exception as exc:  # noqa: BLE001 - user errors become one line, bugs re-raise
            message = user_error_message(exc)
            if message is None:
                raise
            print(f"gre-ray: error: {message}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
