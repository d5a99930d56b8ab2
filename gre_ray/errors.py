"""Errors that are the user's to fix.

A :class:`UserError` carries one line that names the file, line, column or config key at
fault. The CLI prints that line and exits non-zero instead of showing a traceback; every
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (config, data file, arguments) with a one-line message."""


class ConfigError(UserError):
    """A config key that is unknown, of the wrong type, or has an invalid value."""


class DataError(UserError):
    """A data file that is missing, unreadable, or does not follow the data contract."""


def causes(exc: BaseException | None, implicit: bool = True, limit: int = 8) -> list[BaseException]:
    """``exc`` and the exceptions it wraps, outermost first.

    One step follows Ray's ``RayTaskError.cause`` (the exception the task raised), then
    ``__cause__`` (``raise ... from``), then, when ``implicit``, ``__context__`` (raised
    while handling another). Stops at ``limit`` exceptions or a loop.
    """
    chain: list[BaseException] = []
    while exc is not None and len(chain) < limit and all(exc is not e for e in chain):
        chain.append(exc)
        exc = getattr(exc, "cause", None) or exc.__cause__ or (exc.__context__ if implicit else None)
    return chain


def find_user_error(exc: BaseException) -> UserError | None:
    """The user error inside ``exc`` (Ray wraps a task's exception), if any.

    Ray's task error subclasses the original's type but prints Ray's traceback, so the
    original (its ``cause``) is preferred over an exception that is a user error itself.
    """
    for inner in causes(exc):
        cause = getattr(inner, "cause", None)
        if isinstance(cause, UserError):
            return cause
        if isinstance(inner, UserError):
            return inner
    return None


def innermost_cause(exc: BaseException) -> BaseException:
    """The innermost exception ``exc`` wraps explicitly (Ray's ``cause`` or ``raise ... from``)."""
    return causes(exc, implicit=False)[-1]
