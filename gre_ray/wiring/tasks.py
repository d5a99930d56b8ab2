"""Plain functions run as Ray tasks: one task per call, the results back in call order.

For stages whose parallel work is a pure function applied to independent inputs (a demo
domain, a file's domain counts): the function stays in its domain package and Ray is
named only here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import ray

T = TypeVar("T")


def run_in_tasks(fn: Callable[..., T], calls: Iterable[Sequence[Any]], num_cpus: float = 1) -> list[T]:
    """``fn(*args)`` for every ``args`` of ``calls``, each in its own Ray task (``num_cpus`` each).

    Returns:
        The results, in the order of ``calls``. A task's exception is raised here.
    """
    task = ray.remote(num_cpus=num_cpus)(fn)
    return ray.get([task.remote(*args) for args in calls])


def run_in_task(fn: Callable[..., T], *args: Any, num_cpus: float = 1) -> T:
    """``fn(*args)`` in one Ray task: work that reads files where Ray schedules it, not in the driver."""
    return run_in_tasks(fn, [args], num_cpus)[0]
