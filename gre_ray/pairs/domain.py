"""One domain's inputs for pair mining: its items, guide vectors and user sequences.

Items are numbered 0..n-1 in the sorted order of their ids, so dense ids, pair orientation
(``item_a < item_b``) and output order do not depend on row order. Guide vectors are
re-normalised here (the pair's text similarity is the dot product of unit vectors,
whatever the embedding stage was told); an item without a vector, or with a zero vector,
takes part in counting but not in pairs or negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.data.schema import EMBEDDING_COLUMN, embedding_dim
from gre_ray.pairs.config import PairsConfig
from gre_ray.pairs.sequences import SequenceStats, UserSequences, build_sequences, cap_sequences, item_index


@dataclass(frozen=True)
class DomainItems:
    """A domain's item vocabulary with texts and guide vectors.

    Attributes:
        domain: the domain name.
        item_ids: (n,) sorted item ids (object array of str).
        texts: (n,) item texts.
        vectors: (n, dim) float32 unit vectors, zero rows where ``has_vector`` is False.
        has_vector: (n,) bool.
    """

    domain: str
    item_ids: np.ndarray
    texts: np.ndarray
    vectors: np.ndarray
    has_vector: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def domain_items(domain: str, items: pa.Table, embeddings: pa.Table) -> DomainItems:
    """Build :class:`DomainItems` from the domain's rows of the items table and an embeddings table.

    Args:
        domain: the domain name.
        items: rows of the items contract (``item_id``, ``text``) of this domain.
        embeddings: ``item_id`` + ``embedding`` fixed_size_list<float32>[dim]; may hold
            other domains' items too.

    Returns:
        The domain's items, sorted by id, with their vectors.
    """
    order = pc.sort_indices(items, sort_keys=[("item_id", "ascending")])
    items = items.take(order)
    ids = items.column("item_id").combine_chunks()
    dim = embedding_dim(embeddings.schema, "embeddings")
    row = pc.index_in(ids, value_set=embeddings.column("item_id").combine_chunks())
    row_np = pc.fill_null(row, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    vectors = np.zeros((len(ids), dim), dtype=np.float32)
    found = row_np >= 0
    if found.any():
        column = embeddings.column(EMBEDDING_COLUMN).combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
        vectors[found] = flat[row_np[found]]
    norms = np.linalg.norm(vectors, axis=1)
    has_vector = found & (norms > 0) & np.isfinite(norms)
    vectors[has_vector] /= norms[has_vector, None]
    vectors[~has_vector] = 0.0
    return DomainItems(
        domain,
        np.asarray(ids.to_pylist(), dtype=object),
        np.asarray(items.column("text").to_pylist(), dtype=object),
        vectors,
        has_vector,
    )


@dataclass(frozen=True)
class PreparedDomain:
    """A domain ready for counting.

    Attributes:
        items: the vocabulary and vectors.
        history: whole distinct-item histories (for the negatives' co-occurrence filter).
        sequences: histories after the per-user cap (what is counted).
        stats: rows and users set aside on the way.
    """

    items: DomainItems
    history: UserSequences
    sequences: UserSequences
    stats: SequenceStats


def prepare_domain(interactions: pa.Table, items: DomainItems, config: PairsConfig) -> PreparedDomain:
    """Turn a domain's interactions into capped user sequences over its item vocabulary.

    Args:
        interactions: the domain's rows (``user_id``, ``item_id``, ``timestamp``).
        items: the domain's items (from :func:`domain_items`).
        config: uses ``max_items_per_user`` and ``seed``.

    Returns:
        The prepared domain.
    """
    vocab = pa.array(items.item_ids.tolist(), pa.string())
    idx = item_index(interactions.column("item_id"), vocab)
    times = interactions.column("timestamp").to_numpy()
    history, stats = build_sequences(interactions.column("user_id"), idx, times, items.n_items)
    capped = cap_sequences(history, config.max_items_per_user, config.seed, stats)
    return PreparedDomain(items, history, capped, stats)
