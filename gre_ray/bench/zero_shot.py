"""The zero-training tier: next-item retrieval by the embedding alone.

For each dataset and embedding model, every test user of the retrieval split (the users
SASRec and DSSM are tested on) is scored by the cosine between their last item before the
test target and every item of the catalogue: full ranking, the user's earlier items masked
(as in :func:`gre_ray.recsys.evaluation.retrieval_ranks`), NDCG@10 and Recall@10. No
parameter is trained, so it measures the embedding alone and catches a broken embedding
(constant vectors, a wrong prompt) before hours of training; an item-to-item
text-similarity recommender of this kind is the classic content-based baseline (Lops et
al. 2011).

The benchmark scores on the cluster: :mod:`gre_ray.bench.zero_shot_chunks` cuts each
(dataset, embedding) into chunks of test users whose memory is bounded by the chunk, and
:mod:`gre_ray.wiring.zero_shot_tasks` runs them as Ray tasks (on GPUs when the trials get
GPUs). :func:`local_ranks` is the one-process computation they equal.

Results are stored in the results store's ``zero_shot`` table under a key of the split's
and the vectors' fingerprints, so each is computed once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from gre_ray.bench.config import BenchmarkConfig
from gre_ray.bench.store import ZERO_SHOT, ResultsStore
from gre_ray.bench.trials import DatasetInputs, protocol_of
from gre_ray.bench.zero_shot_chunks import ScoringJob
from gre_ray.recsys.batches import RetrievalBatches
from gre_ray.recsys.metrics import full_ranking_ranks, ranking_metrics
from gre_ray.recsys.split_io import load_split
from gre_ray.recsys.splits import Split, Stage
from gre_ray.recsys.text_vectors import MissingPolicy, TextVectors, load_text_vectors

log = logging.getLogger("gre_ray")
ZERO_SHOT_VERSION = 1
ZERO_SHOT_METRICS = ("ndcg@10", "recall@10")
MODEL = "last_item_cosine"
COLUMNS = ["key", "dataset", "scenario", "embedding", "embedding_fingerprint", "model", "metric", "value", "n_users",
           "protocol", "split_kind", "history_masked", "split_fingerprint"]


def zero_shot_key(split_fingerprint: str, embedding_fingerprint: str, query_fingerprint: str) -> str:
    payload = {"version": ZERO_SHOT_VERSION, "split": split_fingerprint, "items": embedding_fingerprint,
               "queries": query_fingerprint}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _unit(text: TextVectors) -> torch.Tensor:
    matrix = torch.from_numpy(text.matrix)
    return torch.nn.functional.normalize(matrix, p=2, dim=-1)  # cosine; zero rows stay zero


def last_item_ranks(split: Split, items: TextVectors, queries: TextVectors | None = None) -> np.ndarray:
    """(U,) 0-based test rank of each user when scored by cosine(last item, candidate).

    Args:
        split: a retrieval split.
        items: the candidates' vectors aligned to the split (row 0: padding).
        queries: the query-side vectors (an asymmetric model's query prompt); None: ``items``.
    """
    seq, targets, mask_indptr, mask_items = RetrievalBatches(split).evaluation(Stage.TEST)
    last = seq[:, -1]  # left-padded windows: the last column is the most recent item
    item_vecs = _unit(items)
    user_vecs = (_unit(queries) if queries is not None else item_vecs)[torch.from_numpy(last.astype(np.int64))]
    return full_ranking_ranks(user_vecs, item_vecs, targets, mask_indptr, mask_items)


def local_ranks(jobs: list[ScoringJob]) -> list[np.ndarray]:
    """The ranks of every job in this process, the whole item matrix at once (the reference
    the chunked Ray path of :mod:`gre_ray.wiring.zero_shot_tasks` equals)."""
    out = []
    for job in jobs:
        split = load_split(job.split)
        missing = MissingPolicy(job.missing)
        text = load_text_vectors(job.items, split.item_ids, missing=missing, dataset=job.dataset)
        query = load_text_vectors(job.queries, split.item_ids, missing=missing, dataset=job.dataset) \
            if job.queries else None
        out.append(last_item_ranks(split, text, query))
    return out


def zero_shot_table(
    config: BenchmarkConfig,
    data: list[DatasetInputs],
    store: ResultsStore,
    queries: dict[str, dict[str, tuple[str, str]]] | None = None,
    rank_jobs: Callable[[list[ScoringJob]], list[np.ndarray]] = local_ranks,
) -> pd.DataFrame:
    """The zero-training tier of every (dataset with a retrieval split, embedding), computing
    and storing the missing ones.

    Args:
        config: the benchmark settings (``missing_text``).
        data: the prepared datasets (splits, embeddings and their fingerprints).
        store: the results store.
        queries: dataset → embedding → (URI, fingerprint) of query-side vectors, for
            models with a query prompt.
        rank_jobs: scores the missing (dataset, embedding) pairs, one ranks array each:
            :func:`local_ranks`, or the chunked Ray tasks of the benchmark's wiring.

    Returns:
        One row per (dataset, embedding, metric): see :data:`COLUMNS`.
    """
    queries = queries or {}
    stored = store.read(ZERO_SHOT)
    have = set(stored["key"]) if not stored.empty else set()
    rows: list[dict] = []
    todo: list[tuple[int, dict, ScoringJob]] = []  # (position in rows, identity, job)
    for d in data:
        if "retrieval" not in d.splits or not d.embeddings:
            continue
        split_fp = d.split_fingerprints.get("retrieval", "")
        protocol = protocol_of("retrieval", d.split_kinds.get("retrieval", ""))
        for name, uri in d.embeddings.items():
            fp = d.embedding_fingerprints.get(name, "")
            query_uri, query_fp = queries.get(d.name, {}).get(name, ("", ""))
            key = zero_shot_key(split_fp, fp, query_fp)
            ident = {"key": key, "dataset": d.name, "scenario": d.scenario, "embedding": name,
                     "embedding_fingerprint": fp, "model": MODEL, "protocol": protocol["ranking"],
                     "split_kind": protocol["split"], "history_masked": True, "split_fingerprint": split_fp}
            if key in have:
                rows += [{**r, **ident} for r in stored[stored["key"] == key][["metric", "value", "n_users"]]
                         .to_dict("records")]
                continue
            todo.append((len(rows), ident, ScoringJob(d.splits["retrieval"], uri, query_uri,
                                                      MissingPolicy(config.missing_text).value, d.name)))
    new = []
    for (position, ident, _), ranks in zip(reversed(todo), reversed(rank_jobs([job for _, _, job in todo]))):
        metrics = ranking_metrics(ranks)
        found = [{**ident, "metric": m, "value": float(metrics[m]), "n_users": len(ranks)} for m in ZERO_SHOT_METRICS]
        rows[position:position] = found  # in grid order, stored rows and new ones alike
        new = found + new
        log.info("zero-training tier %s / %s: ndcg@10 %.4f", ident["dataset"], ident["embedding"], metrics["ndcg@10"])
    if new:
        store.append(pd.DataFrame(new, columns=COLUMNS), ZERO_SHOT)
    return pd.DataFrame(rows, columns=COLUMNS)
