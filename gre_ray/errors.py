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
