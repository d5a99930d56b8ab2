"""Preflight checks of the stages' inputs: mistakes found before the first stage starts.

The runner calls each stage's ``preflight`` for every listed stage before it touches the
run folder (:func:`gre_ray.runner.runner.preflight`). The checks here are the ones that
need more than the stage's own settings: where the raw files are, which dataset names
the run's ingest or demo data will produce for the benchmark to pick from. Each mistake
is one :class:`~gre_ray.errors.UserError` line naming the setting and the file.
"""

from __future__ import annotations

import posixpath
from typing import Any

from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError, DataError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.registry import load_registry
from gre_ray.ingest.sources import missing_files, resolve


def check_ingest(settings: IngestConfig) -> None:
    """The ingest settings' mistakes, in the order a user fixes them: registry, names, data root, files.

    Raises:
        ConfigError: an unreadable registry or an unknown dataset name.
        DataError: a missing or empty data root, a missing raw file, a raw file of 0 bytes.
    """
    if settings.datasets:
        registry = load_registry(settings.registry or None)
        unknown = [n for n in settings.datasets if n not in registry]
        if unknown:
            raise ConfigError(f"ingest.datasets: unknown dataset(s) {', '.join(map(repr, unknown))} (known: {', '.join(registry)})")
    check_data_root(settings)
    check_missing_files(settings)
    check_empty_files(resolve(settings), settings.allow_empty)


def check_missing_files(settings: IngestConfig) -> None:
    """Raw files of the listed datasets that are not under the data root, all named in one line.

    Raises:
        DataError: naming each dataset with its missing files, and how to fetch them.
    """
    missing = missing_files(settings)
    if not missing:
        return
    by_dataset: dict[str, list[str]] = {}
    for dataset, name in missing:
        by_dataset.setdefault(dataset, []).append(name)
    listed = "; ".join(f"{d}: {', '.join(names)}" for d, names in by_dataset.items())
    registered = [d for d in by_dataset if d in settings.datasets]
    fetch = (f"; `gre-ray datasets download {' '.join(registered)} --to {settings.data_root}` fetches them"
             if registered else "")
    raise DataError(f"ingest: raw files missing under {Location.of(settings.data_root).uri}: {listed}{fetch}")


def check_data_root(settings: IngestConfig) -> None:
    """A data root that does not exist or holds no file, when some dataset's files are to be found under it.

    Raises:
        DataError: naming ``ingest.data_root`` and the datasets that need it.
    """
    relative = [s.name for s in settings.sources if any(_relative(n) for n in (*s.interactions, *s.items))]
    needing = [*settings.datasets, *relative]
    if not needing:
        return
    root = Location.of(settings.data_root)
    hint = f"the raw files of {', '.join(needing)} go under it; `gre-ray datasets --data-root {settings.data_root}` lists them"
    if not root.exists():
        raise DataError(f"ingest.data_root {root.uri} does not exist ({hint})")
    if not root.is_dir():
        raise DataError(f"ingest.data_root {root.uri} is a file, not a folder ({hint})")
    if not root.files():
        raise DataError(f"ingest.data_root {root.uri} is empty ({hint})")


def empty_files(datasets: list[Any]) -> list[tuple[str, str]]:
    """(dataset, file) of every raw file of 0 bytes among resolved datasets."""
    return [(d.name, f.display) for d in datasets for f in d.files if f.size == 0]


def check_empty_files(datasets: list[Any], allow_empty: bool) -> None:
    """A raw file of 0 bytes is an error unless ``ingest.allow_empty`` (then the stage warns and counts it).

    Raises:
        DataError: naming the first empty file and how many more there are.
    """
    empty = empty_files(datasets)
    if empty and not allow_empty:
        name, display = empty[0]
        more = f" (and {len(empty) - 1} more empty file(s))" if len(empty) > 1 else ""
        raise DataError(
            f"ingest: dataset {name!r}: raw file {display} is empty (0 bytes){more}; replace it with the "
            "published file, or set ingest.allow_empty=true to ingest it as an empty file"
        )


def warn_empty_files(ctx: Any, datasets: list[Any]) -> None:
    """Record the empty raw files that ``ingest.allow_empty`` let through: a warning and ``stats.empty_files``."""
    empty = empty_files(datasets)
    ctx.stats["empty_files"] = len(empty)
    if empty:
        ctx.warn(
            f"ingest: {len(empty)} raw file(s) of 0 bytes ingested as empty (ingest.allow_empty): "
            + ", ".join(f"{name}: {display}" for name, display in empty)
        )


def planned_domains(config: Any) -> list[str] | None:
    """The domain names the run's ``domains`` provider will write, or None when not known beforehand."""
    stages = {str(getattr(s, "value", s)) for s in config.run.stages}
    if "ingest" in stages:
        return [*config.ingest.datasets, *(s.name for s in config.ingest.sources)]
    if "demo_data" in stages:
        return list(config.demo_data.domain_names())
    return None


def check_benchmark_datasets(config: Any) -> None:
    """``benchmark.datasets`` names that the run's ingest or demo data will not produce.

    Raises:
        ConfigError: listing every unknown name and the available ones.
    """
    available = planned_domains(config)
    wanted = list(config.benchmark.datasets)
    if available is None or not wanted:
        return
    missing = [n for n in wanted if n not in available]
    if missing:
        source = "ingest.datasets/sources" if "ingest" in {str(getattr(s, "value", s)) for s in config.run.stages} else "demo_data.domains"
        raise ConfigError(
            f"benchmark.datasets: {len(missing)} dataset(s) not produced by {source}: {', '.join(missing)} "
            f"(available: {', '.join(available) or 'none'})"
        )


def _relative(name: str) -> bool:
    return "://" not in name and not posixpath.isabs(name)
