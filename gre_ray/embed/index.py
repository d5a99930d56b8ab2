"""A faiss index over item vectors, saved beside the embeddings with its id order.

Later stages ask two questions of it: the nearest items to some query vectors
(:meth:`EmbeddingIndex.search`) and the nearest other items to some items
(:meth:`EmbeddingIndex.neighbours_of`: coreset near-duplicate removal, pair-mining hard
negatives). Kinds (Johnson, Douze & Jégou, "Billion-scale similarity search with GPUs",
2017; Malkov & Yashunin, HNSW, 2018):

* ``flat`` — exact search, the default: brute force is fast enough up to a few million
  vectors and has no recall to tune;
* ``ivf`` — inverted lists over k-means cells, searching ``nprobe`` cells;
* ``hnsw`` — a navigable small-world graph, CPU only.

Scores are inner products (cosine for normalised vectors; higher is nearer) or squared
L2 distances (lower is nearer). When faiss sees GPUs, ``flat`` and ``ivf`` search on all
of them; the CPU copy is what is saved, so an index built on a GPU node loads anywhere.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.errors import DataError

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.parquet"
META_FILE = "index.json"


class IndexKind(str, enum.Enum):
    FLAT = "flat"
    IVF = "ivf"
    HNSW = "hnsw"


class Metric(str, enum.Enum):
    INNER_PRODUCT = "inner_product"
    L2 = "l2"


@dataclass
class IndexConfig:
    """Which faiss index to build.

    Attributes:
        kind: ``flat`` (exact), ``ivf`` or ``hnsw``.
        metric: ``inner_product`` (cosine on normalised vectors) or ``l2``.
        nlist: IVF cells; unset: 4·√rows, with at least 39 training vectors per cell.
        nprobe: IVF cells searched per query.
        hnsw_m: HNSW neighbours per node.
        ef_construction: HNSW candidate list while building.
        ef_search: HNSW candidate list while searching.
        use_gpu: search on GPUs when faiss sees any (``flat`` and ``ivf``).
        shard_rows: most rows per index shard (and per embeddings file) of the embed stage,
            each built by one task (:mod:`gre_ray.embed.shards`).
    """

    kind: IndexKind = IndexKind.FLAT
    metric: Metric = Metric.INNER_PRODUCT
    nlist: int | None = None
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    use_gpu: bool = True
    shard_rows: int = 250_000

    def __post_init__(self) -> None:
        for name in ("nprobe", "shard_rows", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"index.{name} must be at least 1, got {getattr(self, name)}")
        if self.nlist is not None and self.nlist < 1:
            raise ValueError(f"index.nlist must be at least 1, got {self.nlist}")


def _faiss_metric(metric: Metric) -> int:
    import faiss

    return faiss.METRIC_INNER_PRODUCT if metric is Metric.INNER_PRODUCT else faiss.METRIC_L2


def _new_index(config: IndexConfig, dim: int, rows: int) -> Any:
    import faiss

    metric = _faiss_metric(config.metric)
    if config.kind is IndexKind.FLAT:
        return faiss.IndexFlat(dim, metric)
    if config.kind is IndexKind.HNSW:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, metric)
        index.hnsw.efConstruction = config.ef_construction
        return index
    nlist = config.nlist or max(1, min(int(4 * math.sqrt(rows)), rows // 39))
    return faiss.IndexIVFFlat(faiss.IndexFlat(dim, metric), dim, min(nlist, max(rows, 1)), metric)


def drop_self(item_ids: Sequence[str], ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k + 1`` results of each item's own vector without the item itself, ``k`` columns."""
    out_ids = np.empty((len(item_ids), max(k, 0)), dtype=object)
    out_scores = np.empty((len(item_ids), max(k, 0)), dtype=np.float32)
    for row, item_id in enumerate(item_ids):
        keep = ids[row] != item_id
        if keep.all():  # an exact duplicate vector may push the item itself out of the top k + 1
            keep[-1] = False
        out_ids[row] = ids[row][keep][:k]
        out_scores[row] = scores[row][keep][:k]
    return out_ids, out_scores


class EmbeddingIndex:
    """A faiss index and the item id of each of its rows."""

    def __init__(self, index: Any, item_ids: np.ndarray, config: IndexConfig) -> None:
        self.config = config
        self.item_ids = np.asarray(item_ids, dtype=object)
        self._cpu = index
        self._position = {item_id: i for i, item_id in enumerate(self.item_ids)}
        if len(self._position) != len(self.item_ids):
            raise DataError("index: item ids repeat; an embeddings table has one row per item")
        self._prepare()

    def _prepare(self) -> None:
        import faiss

        if self.config.kind is IndexKind.IVF:
            ivf = faiss.extract_index_ivf(self._cpu)
            ivf.nprobe = self.config.nprobe
            ivf.make_direct_map()  # lets neighbours_of reconstruct stored vectors
        elif self.config.kind is IndexKind.HNSW:
            self._cpu.hnsw.efSearch = self.config.ef_search
        self._search_index = self._cpu
        if self.config.use_gpu and self.config.kind is not IndexKind.HNSW and faiss.get_num_gpus() > 0:
            self._search_index = faiss.index_cpu_to_all_gpus(self._cpu)

    @classmethod
    def build(cls, item_ids: Sequence[str] | np.ndarray, vectors: np.ndarray, config: IndexConfig) -> "EmbeddingIndex":
        """Index ``vectors`` (row i belongs to ``item_ids[i]``)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(item_ids):
            raise ValueError(f"expected {len(item_ids)} vectors as a (rows, dim) matrix, got shape {vectors.shape}")
        index = _new_index(config, vectors.shape[1], len(vectors))
        if not index.is_trained and len(vectors):
            index.train(vectors)
        if len(vectors):
            index.add(vectors)
        return cls(index, np.asarray(item_ids, dtype=object), config)

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def dim(self) -> int:
        return int(self._cpu.d)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest items of each query vector, nearest first.

        Args:
            query_vectors: (queries, dim) vectors (one vector may be given as (dim,)).
            k: neighbours per query; at most the index size is returned.

        Returns:
            ``(ids, scores)``, both (queries, min(k, len)): object array of item ids
            (None where an approximate index found fewer) and float32 scores.
        """
        queries = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors have dimension {queries.shape[1]}, the index {self.dim}")
        k = min(k, len(self))
        if k <= 0:
            return np.empty((len(queries), 0), dtype=object), np.empty((len(queries), 0), dtype=np.float32)
        scores, positions = self._search_index.search(queries, k)
        lookup = np.append(self.item_ids, None)  # position -1 maps to None
        return lookup[positions], scores.astype(np.float32)

    def vectors_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``item_ids`` (KeyError names an unknown id)."""
        positions = []
        for item_id in item_ids:
            if item_id not in self._position:
                raise KeyError(f"item {item_id!r} is not in the index")
            positions.append(self._position[item_id])
        if not positions:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.vstack([self._cpu.reconstruct(int(p)) for p in positions]).astype(np.float32)

    def neighbours_of(self, item_ids: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest *other* items of each of ``item_ids`` (the item itself is left out).

        Returns:
            ``(ids, scores)`` as in :meth:`search`, with ``min(k, len - 1)`` columns.
        """
        k = min(k, len(self) - 1)
        ids, scores = self.search(self.vectors_of(item_ids), k + 1)
        return drop_self(item_ids, ids, scores, k)

    def save(self, loc: Location) -> None:
        """Write ``index.faiss``, ``ids.parquet`` (the id of each index row) and ``index.json``."""
        import faiss

        loc.mkdir()
        data = faiss.serialize_index(self._cpu)
        with loc.fs.open_output_stream((loc / INDEX_FILE).path) as stream:
            stream.write(data.tobytes())
        ids = pa.table({"item_id": pa.array(list(self.item_ids), pa.string())})
        pq.write_table(ids, (loc / IDS_FILE).path, filesystem=loc.fs)
        config = {k: getattr(v, "value", v) for k, v in asdict(self.config).items()}
        meta = {"config": config, "dim": self.dim, "rows": len(self)}
        (loc / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, loc: Location, config: IndexConfig | None = None) -> "EmbeddingIndex":
        """Read an index folder written by :meth:`save`; ``config`` may change search settings."""
        import faiss

        for name in (INDEX_FILE, IDS_FILE, META_FILE):
            if not (loc / name).exists():
                raise DataError(f"{loc.uri}: not an index folder (no {name})")
        meta = json.loads((loc / META_FILE).read_text())
        if config is None:
            saved = meta["config"]
            config = IndexConfig(**{**saved, "kind": IndexKind(saved["kind"]), "metric": Metric(saved["metric"])})
        with loc.fs.open_input_stream((loc / INDEX_FILE).path) as stream:
            index = faiss.deserialize_index(np.frombuffer(stream.read(), dtype=np.uint8))
        ids = pq.read_table((loc / IDS_FILE).path, filesystem=loc.fs).column("item_id").to_pylist()
        return cls(index, np.asarray(ids, dtype=object), config)
