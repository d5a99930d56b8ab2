"""Source adapters, one module per published format; :func:`get_adapter` looks one up by name."""

from __future__ import annotations

import importlib

from gre_ray.ingest.adapters.base import Adapter
from gre_ray.ingest.config import AdapterName


def get_adapter(name: AdapterName | str) -> Adapter:
    """The adapter of ``name`` (an :class:`AdapterName` or its value)."""
    module = importlib.import_module(f"gre_ray.ingest.adapters.{AdapterName(name).value}")
    return module.ADAPTER
