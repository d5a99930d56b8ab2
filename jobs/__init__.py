"""Thin entry points for ``ray job submit``: each parses a config and calls one function."""
