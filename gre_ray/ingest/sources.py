"""Resolving ``ingest.datasets`` and ``ingest.sources`` into datasets with located, typed files.

Everything that can be wrong about the inputs is found here, before any Ray work: an
unknown registry name, an unknown adapter option, a file that is not there (naming every
place it was looked for) and a file whose format the adapter does not read. Each is one
:class:`DataError` or :class:`ConfigError` line.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace

from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError, DataError
from gre_ray.ingest.adapters import get_adapter
from gre_ray.ingest.adapters.base import Inspector
from gre_ray.ingest.config import AdapterName, DomainRole, FilterSettings, IngestConfig, Scenario, SourceSpec
from gre_ray.ingest.files import Chunk, SourceFile, first_line, plan_chunks
from gre_ray.ingest.formats import Syntax, parse_header
from gre_ray.ingest.parse import INTERACTIONS, ITEMS
from gre_ray.ingest.records import RowError
from gre_ray.ingest.registry import RegistryEntry, load_registry


@dataclass(frozen=True)
class Dataset:
    """One dataset ready to ingest: settings resolved, files found and typed."""

    name: str
    scenario: Scenario
    role: DomainRole
    adapter: AdapterName
    options: dict[str, str]
    text_fields: tuple[str, ...]
    filters: FilterSettings
    files: tuple[SourceFile, ...]
    published: dict[str, int] | None = None  # GRE-B Table 1's counts, from the registry
    tolerance: float = 0.05

    @property
    def has_interactions(self) -> bool:
        return any(f.role == INTERACTIONS for f in self.files)

    @property
    def has_items(self) -> bool:
        return any(f.role == ITEMS for f in self.files)


def candidates(root: Location, folder: str, name: str) -> list[Location]:
    """Where a registry file may be: ``root/folder/name`` then ``root/name``, each also with ``.gz`` toggled."""
    other = name[:-3] if name.endswith(".gz") else name + ".gz"
    places = [root / folder, root] if folder else [root]
    return [place / n for place in places for n in (name, other)]


def locate(root: Location, folder: str, name: str, dataset: str) -> Location:
    """The first existing candidate for a file, or a DataError listing where it was looked for."""
    if "://" in name or posixpath.isabs(name):
        found = Location.of(name)
        if found.exists():
            return found
        raise DataError(f"ingest: dataset {dataset!r}: file {name} does not exist")
    tried = candidates(root, folder, name)
    for loc in tried:
        if loc.exists() and not loc.is_dir():
            return loc
    raise DataError(
        f"ingest: dataset {dataset!r}: raw file {name} not found (looked for {', '.join(t.uri for t in tried)})"
    )


def missing_files(config: IngestConfig) -> list[tuple[str, str]]:
    """(dataset, file name) of every raw file of ``config``'s datasets found in none of its places.

    Registry names the data root cannot resolve are left to :func:`resolve`'s error.
    """
    registry = load_registry(config.registry or None) if config.datasets else {}
    listed = [(registry[n].name, registry[n].folder, [*registry[n].interactions, *registry[n].items])
              for n in config.datasets if n in registry]
    listed += [(s.name, "", [*s.interactions, *s.items]) for s in config.sources]
    root = Location.of(config.data_root)
    out = []
    for dataset, folder, names in listed:
        for name in names:
            if "://" in name or posixpath.isabs(name):
                found = Location.of(name).exists()
            else:
                found = any(loc.exists() and not loc.is_dir() for loc in candidates(root, folder, name))
            if not found:
                out.append((dataset, name))
    return out


def resolve(config: IngestConfig) -> list[Dataset]:
    """The datasets of ``config`` in order: registry names first, then explicit sources.

    Raises:
        ConfigError: no dataset listed, an unknown registry name or adapter option.
        DataError: a missing raw file or a format the adapter does not read.
    """
    if not config.datasets and not config.sources:
        raise ConfigError("ingest: list datasets (registry names) or sources to ingest")
    specs: list[tuple[SourceSpec, str, dict[str, int] | None]] = []
    if config.datasets:
        registry = load_registry(config.registry or None)
        for name in config.datasets:
            if name not in registry:
                raise ConfigError(f"ingest.datasets: unknown dataset {name!r} (known: {', '.join(registry)})")
            entry = registry[name]
            published = vars(entry.table1).copy() if entry.table1 else None
            specs.append((_spec_of(entry), entry.folder, published))
    specs.extend((spec, "", None) for spec in config.sources)
    root = Location.of(config.data_root)
    return [
        replace(_dataset(spec, folder, root, config), published=published, tolerance=config.table1_tolerance)
        for spec, folder, published in specs
    ]


def _spec_of(entry: RegistryEntry) -> SourceSpec:
    return SourceSpec(
        name=entry.name,
        adapter=entry.adapter,
        interactions=list(entry.interactions),
        items=list(entry.items),
        scenario=entry.scenario,
        role=entry.role,
        options=dict(entry.options),
        text_fields=list(entry.text_fields),
        filters=dict(entry.filters),
    )


def _dataset(spec: SourceSpec, folder: str, root: Location, config: IngestConfig) -> Dataset:
    adapter = get_adapter(spec.adapter)
    try:
        options = adapter.with_defaults(spec.options)
    except ValueError as exc:
        raise ConfigError(f"ingest: dataset {spec.name!r}: {exc}") from None
    files = []
    for role, names in ((INTERACTIONS, spec.interactions), (ITEMS, spec.items)):
        pick = adapter.interactions_format if role == INTERACTIONS else adapter.items_format
        for name in names:
            loc = locate(root, folder, name, spec.name)
            try:
                fmt = pick(loc.name, options)
            except ValueError as exc:
                raise DataError(f"ingest: dataset {spec.name!r}: {exc}") from None
            display = posixpath.relpath(loc.path, root.path) if loc.path.startswith(root.path + "/") else loc.uri
            size = loc.fs.get_file_info(loc.path).size or 0
            source = SourceFile(len(files), role, loc.uri, display, fmt, size)
            if adapter.inspect is not None and size:
                source = _inspected(source, adapter.inspect, options, spec.name)
            files.append(source)
    return Dataset(
        name=spec.name,
        scenario=Scenario(spec.scenario),
        role=DomainRole(spec.role),
        adapter=AdapterName(spec.adapter),
        options=options,
        text_fields=tuple(spec.text_fields or adapter.text_fields),
        filters=config.filters.merged(spec.filters, f"ingest: dataset {spec.name!r}: filters"),
        files=tuple(files),
    )


def _inspected(source: SourceFile, inspect: Inspector, options: dict[str, str], dataset: str) -> SourceFile:
    """``source`` with the format and release its first line shows (DataError: no known release)."""
    try:
        line = first_line(source)
        fmt, release = inspect(source.display, source.role, line, source.fmt, options)
    except OSError as exc:
        raise DataError(f"ingest: dataset {dataset!r}: {source.display}: cannot read: {exc}") from None
    except ValueError as exc:
        raise DataError(f"ingest: dataset {dataset!r}: {exc}") from None
    return replace(source, fmt=fmt, release=release)


def plan(dataset: Dataset, chunk_bytes: int) -> list[Chunk]:
    """The chunks of every file of ``dataset``; headers are read here so every chunk knows its columns.

    Raises:
        DataError: a header that cannot be read, or a Parquet file that is not Parquet.
    """
    chunks: list[Chunk] = []
    for file in dataset.files:
        columns = file.fmt.columns
        try:
            if file.fmt.syntax is Syntax.DELIMITED and file.fmt.header:
                columns = parse_header(first_line(file), file.fmt)
            chunks.extend(plan_chunks(file, chunk_bytes, columns))
        except RowError as exc:
            raise DataError(f"{file.display}:1: cannot read the header ({exc.reason})") from None
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) for non-Parquet bytes
            raise DataError(f"{file.display}: cannot read: {exc}") from None
    return chunks
