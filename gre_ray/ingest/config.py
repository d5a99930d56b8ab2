"""Settings of the ``ingest`` stage: which raw datasets to read and how to filter them.

A dataset comes either from the registry (``ingest.datasets: [Arts, Yelp]``, resolved
through ``gre_ray/ingest/registry/datasets.yaml``) or from an explicit :class:`SourceSpec`
(``ingest.sources``). Filters and text settings are set once for the stage; a registry
entry or a source may override single filter keys (``filters: {min_user_interactions: 5}``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from gre_ray.config.loader import build, to_dict
from gre_ray.errors import ConfigError
from gre_ray.shipped import SHIPPED

MAX_TIMESTAMP = 4_102_444_800  # 2100-01-01 UTC: a fixed bound keeps the output independent of "now"


class AdapterName(str, enum.Enum):
    """The published formats the ingest stage reads (one module each under ``ingest/adapters``)."""

    AMAZON2023 = "amazon2023"
    AMAZON2018 = "amazon2018"
    GOODREADS = "goodreads"
    YELP = "yelp"
    GOOGLE_LOCAL = "google_local"
    NINEREC = "ninerec"
    STEAM = "steam"
    MOVIELENS = "movielens"
    RECBOLE = "recbole"
    GENERIC = "generic"


class Scenario(str, enum.Enum):
    """GRE-B's six scenarios, plus ``other`` for sources outside them."""

    ECOMMERCE = "e-commerce"
    FASHION = "fashion"
    BOOK = "book"
    GAME = "game"
    VIDEO = "video"
    CATERING = "catering"
    OTHER = "other"


class DomainRole(str, enum.Enum):
    """Whether a domain feeds GRE's training corpus or is held out for the benchmark."""

    TRAIN = "train"
    BENCHMARK = "benchmark"


class KeepDuplicate(str, enum.Enum):
    """Which of a user's repeated interactions with one item survives de-duplication."""

    FIRST = "first"
    LAST = "last"
    ALL = "all"  # no de-duplication


class MissingItemPolicy(str, enum.Enum):
    """What happens to an interaction whose item has no (valid) metadata."""

    QUARANTINE = "quarantine"
    KEEP = "keep"


class OrphanItemPolicy(str, enum.Enum):
    """What happens to an item that no kept interaction mentions."""

    DROP = "drop"
    KEEP = "keep"


@dataclass
class FilterSettings:
    """Interaction and item filters, applied in this order after parsing.

    Attributes:
        min_rating: interactions rated below this are dropped (implicit rows, rating null, stay).
        label_threshold: ``label = rating >= label_threshold``; implicit rows get label 1;
            unset: explicit rows get a null label.
        dedupe: keep the first or last interaction of a user with an item (by time, then
            file order), or all of them.
        min_user_interactions: iterative k-core: users with fewer interactions are removed,
            repeatedly with ``min_item_interactions``, until both hold.
        min_item_interactions: see ``min_user_interactions``.
        interactions_without_item: quarantine or keep interactions whose item has no metadata
            (only applies when the source has item files).
        items_without_interactions: drop or keep items no kept interaction mentions (only
            applies when the source has interaction files).
        min_timestamp: earliest valid timestamp (Unix seconds, inclusive).
        max_timestamp: latest valid timestamp (exclusive).
        remap_ids: write dense integer ids (as strings) into ``items``/``interactions``
            instead of the raw ids; ``id_maps`` holds the mapping either way.
    """

    min_rating: float | None = None
    label_threshold: float | None = None
    dedupe: KeepDuplicate = KeepDuplicate.FIRST
    min_user_interactions: int = 0
    min_item_interactions: int = 0
    interactions_without_item: MissingItemPolicy = MissingItemPolicy.QUARANTINE
    items_without_interactions: OrphanItemPolicy = OrphanItemPolicy.DROP
    min_timestamp: int = 0
    max_timestamp: int = MAX_TIMESTAMP
    remap_ids: bool = False

    def __post_init__(self) -> None:
        if self.min_user_interactions < 0 or self.min_item_interactions < 0:
            raise ValueError("min_user_interactions and min_item_interactions must be >= 0")
        if self.min_timestamp >= self.max_timestamp:
            raise ValueError(f"min_timestamp ({self.min_timestamp}) must be below max_timestamp ({self.max_timestamp})")

    def merged(self, overrides: dict[str, Any], where: str) -> "FilterSettings":
        """These settings with some keys replaced, checked like the config file."""
        if not overrides:
            return self
        return build(FilterSettings, {**to_dict(self), **overrides}, prefix=where)


@dataclass
class TextSettings:
    """How item text is built from the source fields and cleaned.

    Attributes:
        labels: prefix each field with its label (``Title: ...``).
        label_names: field → label; fields not listed use their name, capitalised.
        field_separator: between fields.
        list_separator: between the elements of a list field (features, categories).
        strip_html: unescape entities and remove tags.
        strip_urls: remove ``http(s)://`` and ``www.`` addresses.
        strip_emails: remove e-mail addresses.
        ascii_only: transliterate to ASCII (accents dropped, other scripts removed).
        dedupe_sentences: drop a sentence whose word set has at least this Jaccard
            similarity with an earlier sentence of the same item (1.0: exact repeats
            after case and punctuation folding); unset: keep every sentence.
    """

    labels: bool = True
    label_names: dict[str, str] = field(default_factory=dict)
    field_separator: str = "\n"
    list_separator: str = ", "
    strip_html: bool = True
    strip_urls: bool = True
    strip_emails: bool = True
    ascii_only: bool = False
    dedupe_sentences: float | None = None

    def __post_init__(self) -> None:
        if self.dedupe_sentences is not None and not 0 < self.dedupe_sentences <= 1:
            raise ValueError(f"dedupe_sentences must be in (0, 1], got {self.dedupe_sentences}")


@dataclass
class SourceSpec:
    """One dataset given explicitly: its adapter and files.

    Attributes:
        name: the domain name written into every row.
        adapter: the published format of the files.
        interactions: interaction files, relative to ``ingest.data_root`` or absolute.
        items: item metadata files, likewise.
        scenario: GRE-B scenario of the domain.
        role: ``train`` (GRE's corpus) or ``benchmark`` (held out).
        options: adapter options (column names, separators, language); see each adapter.
        text_fields: source fields that make the item text, in order (empty: the adapter's).
        filters: filter keys overriding ``ingest.filters`` for this source.
    """

    name: str
    adapter: AdapterName
    interactions: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    scenario: Scenario = Scenario.OTHER
    role: DomainRole = DomainRole.BENCHMARK
    options: dict[str, Any] = field(default_factory=dict)
    text_fields: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"source name must be non-empty without '/', got {self.name!r}")
        if not self.interactions and not self.items:
            raise ValueError(f"source {self.name!r} lists no interaction or item files")
        try:
            FilterSettings().merged(self.filters, "filters")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


@dataclass
class IngestConfig:
    """Settings of the ``ingest`` stage.

    Attributes:
        data_root: folder (or URI) the raw files are found under.
        datasets: registry names to ingest (``gre-ray datasets`` lists them).
        sources: datasets given explicitly.
        registry: another registry YAML to resolve ``datasets`` with (empty: the packaged one).
        strict: stop at the first bad row with a DataError naming file, line and reason.
        allow_empty: ingest a raw file of 0 bytes as an empty file (with a warning and a
            count in the manifest) instead of stopping before any work.
        filters: interaction and item filters (see :class:`FilterSettings`).
        text: item text template and cleaning (see :class:`TextSettings`).
        token_tokenizer: tokenizer for the ``#tokens`` statistics: an HF folder or name,
            ``minilm`` for the shipped one (:mod:`gre_ray.shipped`), empty to skip counting.
        chunk_mb: uncompressed files are split into byte ranges of this size, read in
            parallel (``.gz`` files are read whole by one task each).
        block_lines: lines parsed per output block.
        table1_tolerance: relative difference from GRE-B Table 1's counts (registry
            ``table1``) beyond which the ingest warns, naming the likely cause.
        concurrent_datasets: datasets parsed at the same time (their parse tasks share
            the cluster; the driver assembles one after another).
        gzip_split: a ``.gz`` file is decompressed by one streaming task into pieces of
            ``chunk_mb`` that other tasks parse; false (the default) reads it whole in one
            task. Off by default: on 2 cores it measured slower than one task per file
            (benchmarks/RESULTS.md); it is for machines with cores to spare.
    """

    data_root: str = "data/raw"
    datasets: list[str] = field(default_factory=list)
    sources: list[SourceSpec] = field(default_factory=list)
    registry: str = ""
    strict: bool = False
    allow_empty: bool = False
    filters: FilterSettings = field(default_factory=FilterSettings)
    text: TextSettings = field(default_factory=TextSettings)
    token_tokenizer: str = SHIPPED
    chunk_mb: float = 64.0
    block_lines: int = 20_000
    table1_tolerance: float = 0.05
    concurrent_datasets: int = 4
    gzip_split: bool = False

    def __post_init__(self) -> None:
        if self.chunk_mb <= 0:
            raise ValueError(f"chunk_mb must be positive, got {self.chunk_mb}")
        if self.block_lines < 1:
            raise ValueError(f"block_lines must be at least 1, got {self.block_lines}")
        if not 0 <= self.table1_tolerance:
            raise ValueError(f"table1_tolerance must be >= 0, got {self.table1_tolerance}")
        if self.concurrent_datasets < 1:
            raise ValueError(f"concurrent_datasets must be at least 1, got {self.concurrent_datasets}")
        names = list(self.datasets) + [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"dataset names must be unique, repeated: {', '.join(repeated)}")

    @property
    def chunk_bytes(self) -> int:
        """Bytes per chunk of an uncompressed file; strict mode reads each file whole, so
        line numbers are known when a task stops at the first bad line."""
        return 1 << 62 if self.strict else max(1, int(self.chunk_mb * (1 << 20)))
