"""The registry of runner stages: stage name → stage class.

Each stage module registers its class with :func:`register`; importing this package
imports them all.
"""

from __future__ import annotations

from gre_ray.runner.stage import Stage

STAGES: dict[str, type[Stage]] = {}


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator adding a stage to :data:`STAGES` under ``cls.name``."""
    if cls.name in STAGES:
        raise ValueError(f"stage {cls.name!r} is registered twice")
    STAGES[cls.name] = cls
    return cls


def registry() -> dict[str, type[Stage]]:
    """All registered stages (imports every stage module once)."""
    from gre_ray.stages import demo_data  # noqa: F401
    from gre_ray.stages import embed  # noqa: F401
    from gre_ray.stages import coreset  # noqa: F401
    from gre_ray.stages import pairs  # noqa: F401
    from gre_ray.stages import mlm  # noqa: F401
    from gre_ray.stages import contrastive  # noqa: F401
    from gre_ray.stages import ingest  # noqa: F401
    from gre_ray.stages import benchmark  # noqa: F401

    return STAGES
