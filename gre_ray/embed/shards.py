"""Embeddings written by the actors, joined into shard files, each shard indexed on its own.

The embed stage never gathers the vectors in one process (issue #31). Instead:

1. each actor call writes its rows to a *call file* in a staging folder
   (:func:`write_call`; named by a hash of the call's first item id, so a retried call
   overwrites its own file), its rows' text hashes to a file of the same name in a second
   staging folder, and returns one summary row (:func:`gre_ray.embed.job.call_summary`):
   the driver, which owns the returned blocks, holds a row per call, not per text;
   :func:`call_report` turns the summaries and the hashes into the run report in a task;
2. :func:`plan_shards` groups the call files, in name order, into shards of at most
   ``index.shard_rows`` rows; one task per shard (:func:`build_shard`) joins its call files
   into one Parquet part of the embeddings folder and builds that part's faiss index
   (:class:`~gre_ray.embed.index.EmbeddingIndex`), saved as ``index/shard-NNNNN``;
3. ``index/shards.json`` lists the shards; :class:`ShardedIndex` reads them one at a time.

A flat shard finds the exact top k of its rows, so the merged top k of the shards is the top
k of one flat index over every row (tests/embed/test_shards.py checks it); an IVF or HNSW
shard is trained on its own rows only, a bounded sample of the whole.
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.embed.job import SUMMARY_SCHEMA, EmbedReport, summary_error, summary_report
from gre_ray.embed.index import EmbeddingIndex, IndexConfig, IndexKind, Metric, drop_self
from gre_ray.embed.vectors import matrix_of
from gre_ray.errors import DataError

SHARDS_FILE = "shards.json"


def write_call(table: pa.Table, staging: Location, hashes: Location | None = None) -> str:
    """Write one call's ``item_id`` + ``embedding`` rows as a call file, and (``hashes``) its
    rows' text hashes as a file of the same name there; returns the name."""
    first = table.column("item_id")[0].as_py() if table.num_rows else ""
    digest = hashlib.blake2b(f"{first}\0{table.num_rows}".encode("utf-8"), digest_size=10).hexdigest()
    name = f"call-{digest}.parquet"
    staging.mkdir()
    pq.write_table(table.select(["item_id", "embedding"]), (staging / name).path, filesystem=staging.fs)
    if hashes is not None:
        hashes.mkdir()
        pq.write_table(table.select(["_text_hash"]), (hashes / name).path, filesystem=hashes.fs)
    return name


def distinct_texts(hashes: Location) -> int:
    """Distinct text hashes over the call files of ``hashes`` (8 bytes per row in this task)."""
    parts = [pq.read_table(f.path, filesystem=hashes.fs, columns=["_text_hash"]).column(0) for f in hashes.files()]
    return len(pc.unique(pa.chunked_array(parts, pa.uint64()))) if parts else 0


def call_report(wall: float, actors: int, source: str, hashes: Location,
                *summaries: pa.Table) -> tuple[str | None, EmbedReport]:
    """(the first decoding error or None, the run report) from the calls' summaries
    (:func:`gre_ray.embed.job.call_summary`) and their text hashes."""
    table = pa.concat_tables(summaries) if summaries else SUMMARY_SCHEMA.empty_table()
    error = summary_error(table, source)
    if error:
        return error, EmbedReport()
    return None, summary_report(table, distinct_texts(hashes), wall, actors)


def plan_shards(staging: Location, shard_rows: int) -> list[list[str]]:
    """The call files of ``staging`` (paths, name order) grouped into shards of at most ``shard_rows`` rows."""
    groups: list[list[str]] = []
    rows = shard_rows
    for info in staging.files():
        n = pq.ParquetFile(info.path, filesystem=staging.fs).metadata.num_rows
        if rows + n > shard_rows and rows:
            groups.append([])
            rows = 0
        groups[-1].append(info.path)
        rows += n
    return groups


def build_shard(files: list[str], fs_of: Location, part: int, embeddings: Location, index: Location | None,
                config: IndexConfig) -> int:
    """Join ``files`` into ``embeddings/part-NNNNN.parquet``, index them into ``index/shard-NNNNN``
    (no index when ``index`` is None); returns the shard's rows."""
    table = pa.concat_tables([pq.read_table(f, filesystem=fs_of.fs) for f in files])
    embeddings.mkdir()
    pq.write_table(table, (embeddings / f"part-{part:05d}.parquet").path, filesystem=embeddings.fs)
    if index is None:
        return table.num_rows
    dim = table.schema.field("embedding").type.list_size
    EmbeddingIndex.build(np.asarray(table.column("item_id").to_pylist(), dtype=object),
                         matrix_of(table.column("embedding"), dim), config).save(index / f"shard-{part:05d}")
    return table.num_rows


def dim_of(embeddings: Location) -> int:
    """The vector dimension of an embeddings folder, from its first file's schema."""
    first = embeddings.files()[0]
    return int(pq.read_schema(first.path, filesystem=embeddings.fs).field("embedding").type.list_size)


def write_shard_list(index: Location, config: IndexConfig, dim: int, rows: list[int]) -> None:
    """Write ``index/shards.json``: the settings, the dimension and each shard's rows."""
    meta = {"config": {k: getattr(v, "value", v) for k, v in vars(config).items()}, "dim": dim, "rows": sum(rows),
            "shards": [{"name": f"shard-{i:05d}", "rows": n} for i, n in enumerate(rows)]}
    index.mkdir()
    (index / SHARDS_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


class ShardedIndex:
    """The shards of an ``index`` folder, searched one at a time and merged.

    Args:
        loc: the folder holding ``shards.json``.
        keep_loaded: keep each shard in memory after its first use (small indexes, many
            queries); otherwise a shard is read for each call and dropped after it.
    """

    def __init__(self, loc: Location, keep_loaded: bool = False) -> None:
        if not (loc / SHARDS_FILE).exists():
            raise DataError(f"{loc.uri}: not a sharded index folder (no {SHARDS_FILE})")
        meta = json.loads((loc / SHARDS_FILE).read_text())
        saved = meta["config"]
        self.config = IndexConfig(**{**saved, "kind": IndexKind(saved["kind"]), "metric": Metric(saved["metric"])})
        self.loc, self.dim, self.rows = loc, int(meta["dim"]), int(meta["rows"])
        self.shards = [s["name"] for s in meta["shards"]]
        self.keep_loaded = keep_loaded
        self._loaded: dict[str, EmbeddingIndex] = {}

    @classmethod
    def load(cls, loc: Location, keep_loaded: bool = False) -> "ShardedIndex":
        return cls(loc, keep_loaded)

    def __len__(self) -> int:
        return self.rows

    def shard(self, name: str) -> EmbeddingIndex:
        """One shard's index (read from its folder unless kept)."""
        if name in self._loaded:
            return self._loaded[name]
        index = EmbeddingIndex.load(self.loc / name, self.config)
        if self.keep_loaded:
            self._loaded[name] = index
        return index

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest items of each query over every shard, as :meth:`EmbeddingIndex.search`."""
        queries = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        k = min(k, len(self))
        ids = np.empty((len(queries), 0), dtype=object)
        scores = np.empty((len(queries), 0), dtype=np.float32)
        for name in self.shards:
            got_ids, got_scores = self.shard(name).search(queries, k)
            ids, scores = np.concatenate([ids, got_ids], axis=1), np.concatenate([scores, got_scores], axis=1)
            order = np.argsort(-scores if self.config.metric is Metric.INNER_PRODUCT else scores, axis=1, kind="stable")
            order = order[:, :k]
            ids, scores = np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)
        return ids, scores.astype(np.float32)

    def vectors_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``item_ids`` (KeyError names an unknown id)."""
        out = np.zeros((len(item_ids), self.dim), dtype=np.float32)
        left = {item_id: i for i, item_id in enumerate(item_ids)}
        for name in self.shards:
            if not left:
                break
            shard = self.shard(name)
            here = [item_id for item_id in left if item_id in shard._position]
            if here:
                out[[left.pop(item_id) for item_id in here]] = shard.vectors_of(here)
        if left:
            raise KeyError(f"item {next(iter(left))!r} is not in the index")
        return out

    def neighbours_of(self, item_ids: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest *other* items of each of ``item_ids``, as :meth:`EmbeddingIndex.neighbours_of`."""
        k = min(k, len(self) - 1)
        ids, scores = self.search(self.vectors_of(item_ids), k + 1)
        return drop_self(item_ids, ids, scores, k)
