"""Package attributes imported on first use (PEP 562).

A package whose ``__init__`` re-exports torch modules would make every submodule import
torch, because Python runs a package's ``__init__`` before any of its submodules; the
torch-free settings modules (``gre_ray.recsys.train_config``, ...) must load without it, so
the run config can. ``lazy_exports`` keeps the short import paths
(``from gre_ray.recsys import make_split``) and imports each home module only when one of
its names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, homes: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` and ``__all__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        homes: module path → the names it provides.

    Returns:
        ``(__getattr__, __all__)``, to assign in the package's ``__init__``.
    """
    home = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return __getattr__, sorted(home)
