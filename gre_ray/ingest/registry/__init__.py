"""The dataset registry: GRE-B's 26 benchmark datasets and GRE's training domains, as data.

``datasets.yaml`` (package data beside this module) names each dataset's scenario, role,
source adapter, the raw files it expects (as published, under ``<data_root>/<folder>/``
or ``<data_root>/``), its filter settings and where the raw files are published. The
ingest stage resolves ``ingest.datasets: [Arts, ...]`` through it and ``gre-ray datasets``
lists it. Entries are checked like a config file: an unknown key or adapter is an error
naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gre_ray.config.loader import build, read_utf8
from gre_ray.errors import ConfigError
from gre_ray.ingest.config import AdapterName, DomainRole, FilterSettings, Scenario

PACKAGED = "datasets.yaml"


@dataclass
class Table1Counts:
    """GRE-B Table 1's counts of one dataset (they may include one padding id)."""

    users: int
    items: int
    interactions: int

    def __post_init__(self) -> None:
        if min(self.users, self.items, self.interactions) <= 0:
            raise ValueError("table1 counts must be positive")


@dataclass
class DownloadFile:
    """One published file and where it is fetched from.

    Attributes:
        file: the name it is saved under.
        url: the official URL (``https://``; Google Drive links are fetched with ``gdown``).
        size: bytes, when known (checked after the download).
        sha256: hex digest, when known (checked after the download).
        unpack: an archive (zip, tar) to unpack into the target folder.
    """

    file: str
    url: str
    size: int = 0
    sha256: str = ""
    unpack: bool = False

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"downloads: {self.file}: url must be http(s), got {self.url!r}")
        if self.sha256 and (len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"downloads: {self.file}: sha256 must be 64 lower-case hex digits")


@dataclass
class RegistryEntry:
    """One dataset of the registry.

    Attributes:
        name: the registry name, also the domain name of its rows.
        scenario: GRE-B scenario.
        role: ``benchmark`` (GRE-B) or ``train`` (GRE's training corpus).
        adapter: the format of its raw files.
        homepage: where the raw files are published.
        folder: sub-folder of the data root searched first (default: the name).
        interactions: expected interaction file names.
        items: expected item metadata file names.
        options: adapter options.
        text_fields: item text template (empty: the adapter's).
        filters: filter keys overriding ``ingest.filters``.
        note: what a user should know (choice of subset, layout).
        table1: GRE-B Table 1's counts (benchmark datasets), checked after ingest.
        downloads: the published files and their official URLs.
        manual: for data whose licence the user must accept: where to fetch it by hand.
    """

    name: str
    scenario: Scenario
    role: DomainRole
    adapter: AdapterName
    homepage: str
    folder: str = ""
    interactions: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    text_fields: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    table1: Table1Counts | None = None
    downloads: list[DownloadFile] = field(default_factory=list)
    manual: str = ""

    def __post_init__(self) -> None:
        if not self.interactions and not self.items:
            raise ValueError("lists no interaction or item files")
        self.folder = self.folder or self.name
        try:
            FilterSettings().merged(self.filters, "filters")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def files(self) -> list[str]:
        return [*self.interactions, *self.items]


def load_registry(path: str | Path | None = None) -> dict[str, RegistryEntry]:
    """The registry's datasets by name, from ``path`` or the packaged ``datasets.yaml``.

    Raises:
        ConfigError: unreadable YAML, or an entry with an unknown key or a bad value
            (the message names the file and the entry).
    """
    if path:
        source = str(path)
        try:
            text = read_utf8(path, "registry")
        except OSError as exc:
            raise ConfigError(f"registry {source}: cannot read: {exc.strerror}") from None
    else:
        source = f"gre_ray/ingest/registry/{PACKAGED}"
        text = resources.files(__package__).joinpath(PACKAGED).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"registry {source}: invalid YAML: {exc}") from None
    datasets = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(datasets, dict):
        raise ConfigError(f"registry {source}: expected a top-level 'datasets' mapping")
    entries = {}
    for name, body in datasets.items():
        if not isinstance(body, dict):
            raise ConfigError(f"registry {source}: datasets.{name} must be a mapping")
        entries[str(name)] = build(RegistryEntry, {**body, "name": str(name)}, prefix=f"registry {source}: datasets.{name}")
    return entries
