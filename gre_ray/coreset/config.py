"""Settings of the ``coreset`` stage: quality filters, domain budgets, diversity selection.

Three nested sections mirror the three steps of GRE's coreset construction (DESIGN.md §2):
``quality`` (length bounds, low-information texts, exact and near de-duplication),
``budget`` (how many texts each domain gets) and ``selection`` (which texts, by k-center
greedy or k-means medoids over the embeddings). Every bad value raises ``ValueError`` in
``__post_init__``; the config loader turns it into a ``ConfigError`` naming the section.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gre_ray.shipped import SHIPPED


class BudgetMode(str, enum.Enum):
    """How the total budget is split across domains before min/max clamping."""

    PROPORTIONAL = "proportional"  # weight = domain size
    UNIFORM = "uniform"  # weight = 1 per non-empty domain
    TEMPERATURE = "temperature"  # weight = size ** alpha


class SelectionMethod(str, enum.Enum):
    """Diversity selection within a domain."""

    KCENTER = "kcenter"  # farthest-point greedy (Gonzalez 1985; Sener & Savarese 2018)
    KMEANS_MEDOIDS = "kmeans_medoids"  # faiss k-means, then the nearest real point per centroid


class FirstCenter(str, enum.Enum):
    """The first center of k-center greedy."""

    SEEDED = "seeded"  # a point drawn with the domain's seed
    NEAREST_MEAN = "nearest_mean"  # the point nearest the domain mean (seed-independent)


class DedupScope(str, enum.Enum):
    """Where duplicates are looked for."""

    GLOBAL = "global"  # across all domains: the same text in two domains is kept once
    DOMAIN = "domain"  # within each domain only


class MissingEmbedding(str, enum.Enum):
    """What to do with items that have no row in the embeddings artifact."""

    EXCLUDE = "exclude"  # drop them, counted as quarantined ``missing_embedding``
    ERROR = "error"  # stop with a DataError naming an example


@dataclass
class QualityConfig:
    """Quality filters, applied in this order: length, low information, exact dup, near dup.

    Attributes:
        tokenizer: HF tokenizer name or folder for token counts; ``minilm`` for the shipped
            all-MiniLM-L6-v2 (:mod:`gre_ray.shipped`).
        min_tokens: drop texts with fewer tokens (special tokens not counted).
        max_tokens: drop texts with more tokens; unset for no upper bound.
        min_distinct_words: drop texts with fewer distinct words (0 disables).
        min_alpha_fraction: drop texts whose share of letters among non-space characters
            is below this (mostly numbers or symbols; 0 disables).
        exact_dedup: drop texts whose normalised text (NFKC, case-folded, punctuation and
            whitespace collapsed) hashes like an earlier one.
        near_dup_threshold: drop a text whose embedding has cosine similarity above this
            with an earlier kept one; unset disables.
        dedup_scope: look for duplicates across all domains or within each domain.
        dedup_rows_per_task: with ``dedup_scope: global``, more survivors than this are
            searched for near duplicates in coarse cells of about this many rows, one task
            each (:mod:`gre_ray.coreset.near_cells`), instead of all in one task.
    """

    tokenizer: str = SHIPPED
    min_tokens: int = 1
    max_tokens: int | None = None
    min_distinct_words: int = 0
    min_alpha_fraction: float = 0.0
    exact_dedup: bool = True
    near_dup_threshold: float | None = 0.95
    dedup_scope: DedupScope = DedupScope.GLOBAL
    dedup_rows_per_task: int = 100_000

    def __post_init__(self) -> None:
        if self.dedup_rows_per_task < 2:
            raise ValueError(f"dedup_rows_per_task must be at least 2, got {self.dedup_rows_per_task}")
        if not self.tokenizer.strip():
            raise ValueError("tokenizer must name a tokenizer folder, a Hub id, or 'minilm' (the shipped one)")
        if self.min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, got {self.min_tokens}")
        if self.max_tokens is not None and self.max_tokens < max(self.min_tokens, 1):
            raise ValueError(f"max_tokens ({self.max_tokens}) must be >= max(min_tokens, 1)")
        if self.min_distinct_words < 0:
            raise ValueError(f"min_distinct_words must be >= 0, got {self.min_distinct_words}")
        if not 0.0 <= self.min_alpha_fraction <= 1.0:
            raise ValueError(f"min_alpha_fraction must be in [0, 1], got {self.min_alpha_fraction}")
        if self.near_dup_threshold is not None and not -1.0 < self.near_dup_threshold < 1.0:
            raise ValueError(f"near_dup_threshold must be in (-1, 1), got {self.near_dup_threshold}")


@dataclass
class BudgetConfig:
    """How many texts each domain contributes.

    Attributes:
        total: texts in the coreset across all domains.
        mode: proportional, uniform, or temperature (``size ** alpha`` normalised).
        alpha: the temperature exponent (1 = proportional, 0 = uniform).
        min_per_domain: each domain gets at least this many (or all it has).
        max_per_domain: each domain gets at most this many; unset for no cap.
    """

    total: int = 1000
    mode: BudgetMode = BudgetMode.TEMPERATURE
    alpha: float = 0.5
    min_per_domain: int = 0
    max_per_domain: int | None = None

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError(f"total must be at least 1, got {self.total}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.min_per_domain < 0:
            raise ValueError(f"min_per_domain must be >= 0, got {self.min_per_domain}")
        if self.max_per_domain is not None:
            if self.max_per_domain < 1:
                raise ValueError(f"max_per_domain must be at least 1, got {self.max_per_domain}")
            if self.max_per_domain < self.min_per_domain:
                raise ValueError(
                    f"max_per_domain ({self.max_per_domain}) is below min_per_domain ({self.min_per_domain})"
                )


@dataclass
class SelectionConfig:
    """Diversity selection within each domain.

    Attributes:
        method: ``kcenter`` (farthest-point greedy) or ``kmeans_medoids``.
        first_center: k-center's first center: ``seeded`` (drawn with the domain's seed)
            or ``nearest_mean`` (the point nearest the domain mean).
        normalize: L2-normalise embeddings first, so distances follow cosine similarity.
        chunk_size: rows per distance block (temporary memory ``chunk_size * block`` floats).
        block: k-center centers applied to all rows per pass (exact at any value; larger
            blocks read the embeddings fewer times).
        max_points_per_task: a domain with more candidates is split into shards run as
            separate Ray tasks (k-center per shard, then k-center over the union).
        candidate_factor: each shard proposes ``ceil(candidate_factor * k)`` candidates
            (at least 1, so the two-stage radius stays within 4x the optimum).
        kmeans_iterations: Lloyd iterations of ``faiss.Kmeans``.
    """

    method: SelectionMethod = SelectionMethod.KCENTER
    first_center: FirstCenter = FirstCenter.SEEDED
    normalize: bool = True
    chunk_size: int = 16_384
    block: int = 256
    max_points_per_task: int = 250_000
    candidate_factor: float = 1.0
    kmeans_iterations: int = 20

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")
        if self.block < 1:
            raise ValueError(f"block must be at least 1, got {self.block}")
        if self.max_points_per_task < 2:
            raise ValueError(f"max_points_per_task must be at least 2, got {self.max_points_per_task}")
        if self.candidate_factor < 1.0:
            raise ValueError(f"candidate_factor must be >= 1, got {self.candidate_factor}")
        if self.kmeans_iterations < 1:
            raise ValueError(f"kmeans_iterations must be at least 1, got {self.kmeans_iterations}")


@dataclass
class CoresetConfig:
    """Settings of the ``coreset`` stage.

    Attributes:
        seed: base seed; each domain derives its own from it and its name.
        train_domains_only: use only domains whose role is ``train`` in the ``domains``
            artifact when a stage of the run provides it (GRE keeps its benchmark domains
            out of its training data).
        quality: the quality filters.
        budget: the per-domain budgets.
        selection: the diversity selection.
        on_missing_embedding: ``exclude`` items without an embedding (counted) or ``error``.
        annotate_batch_size: texts per Ray Data batch when counting tokens.
        annotate_concurrency: tokenizer actors in the Ray Data pool.
    """

    seed: int = 0
    train_domains_only: bool = True
    quality: QualityConfig = field(default_factory=QualityConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    on_missing_embedding: MissingEmbedding = MissingEmbedding.EXCLUDE
    annotate_batch_size: int = 1024
    annotate_concurrency: int = 1

    def __post_init__(self) -> None:
        if self.annotate_batch_size < 1:
            raise ValueError(f"annotate_batch_size must be at least 1, got {self.annotate_batch_size}")
        if self.annotate_concurrency < 1:
            raise ValueError(f"annotate_concurrency must be at least 1, got {self.annotate_concurrency}")
