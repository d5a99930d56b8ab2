"""The zero-training tier in chunks: memory bounded by a chunk of users and items, not the catalogue.

:func:`gre_ray.bench.zero_shot.last_item_ranks` holds the whole (N + 1, D) item matrix in
one process; at Goodreads' size (1.7 M items, 200 k test users) that is gigabytes on the
head node, and the scoring takes minutes to hours on its CPU. Here the same ranks come from
two plain functions that the wiring (:mod:`gre_ray.wiring.zero_shot_tasks`) runs as Ray tasks:

1. :func:`prepare_scoring` (one task per dataset and embedding) aligns the vectors to the
   split, L2-normalises them exactly as :func:`~gre_ray.bench.zero_shot.last_item_ranks`
   does, and writes flat little-endian files beside a ``meta.json``: the item matrix, each
   test user's query vector (their last item, query-side) and target vector, the targets
   and the users' masked items (CSR);
2. :func:`score_chunk` (one task per chunk of ``user_chunk`` users) reads its users' rows
   and then the item matrix ``item_chunk`` rows at a time into one reused buffer, and
   counts, per user, the unmasked items that score at least the target (pessimistic ties):
   the rank. Its memory is ``(users + item_chunk) x D`` floats plus a ``users x item_chunk``
   score block, whatever the catalogue's size.

The arithmetic is that of :func:`gre_ray.recsys.metrics.full_ranking_ranks` (scores and
target scores from the same matrix product, the history and the target masked to -inf,
``>=`` counted), so the ranks equal the one-process ones exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gre_ray.data.storage import Location, read_json, write_json
from gre_ray.recsys.batches import RetrievalBatches
from gre_ray.recsys.metrics import COUNT_BLOCK, _mask_entries
from gre_ray.recsys.split_io import load_split
from gre_ray.recsys.splits import Stage
from gre_ray.recsys.text_vectors import MissingPolicy, load_text_vectors

# The one-process path's own blocks (full_ranking_ranks: 1,024 users x 65,536 items), so every
# matrix product has its shapes and a score rounds alike in both (ties included): a 256 MiB
# score block, whatever the catalogue.
USER_CHUNK = 1024  # users per scoring task
ITEM_CHUNK = 65536  # item rows read and scored at once
ARRAYS = {"items": np.float32, "queries": np.float32, "target_vecs": np.float32, "targets": np.int64,
          "mask_indptr": np.int64, "mask_items": np.int64}


@dataclass(frozen=True)
class ScoringJob:
    """One (dataset, embedding) to score: URIs only, so it may cross a Ray boundary.

    Attributes:
        split: the retrieval split's folder.
        items: the item embeddings (Parquet).
        queries: the query-side embeddings (an asymmetric model's query prompt); empty: ``items``.
        missing: the benchmark's ``missing_text`` policy.
        dataset: the dataset's name, for messages.
    """

    split: str
    items: str
    queries: str = ""
    missing: str = MissingPolicy.ERROR.value
    dataset: str = ""


@dataclass(frozen=True)
class ScoringInputs:
    """What :func:`prepare_scoring` wrote: the folder and the shapes of its arrays."""

    folder: str
    n_users: int
    n_items: int  # rows of the item matrix, padding row 0 included
    dim: int


def _unit(matrix: np.ndarray) -> np.ndarray:
    """Rows L2-normalised as :func:`torch.nn.functional.normalize` does (zero rows stay zero)."""
    return torch.nn.functional.normalize(torch.from_numpy(matrix), p=2, dim=-1).numpy()


def _write(folder: Location, name: str, array: np.ndarray) -> None:
    data = np.ascontiguousarray(array, dtype=ARRAYS[name])
    with folder.fs.open_output_stream((folder / name).path) as out:
        out.write(data.tobytes())


def prepare_scoring(job: ScoringJob, dest: str) -> ScoringInputs:
    """Align, normalise and write one (dataset, embedding)'s scoring inputs under ``dest``.

    Returns:
        The folder's shapes (also in ``dest/meta.json``).

    Raises:
        DataError: unreadable vectors, or split items without a vector under ``missing: error``.
    """
    folder = Location.of(dest)
    folder.mkdir()
    split = load_split(job.split)
    missing = MissingPolicy(job.missing)
    items = _unit(load_text_vectors(job.items, split.item_ids, missing=missing, dataset=job.dataset).matrix)
    queries = items if not job.queries else _unit(
        load_text_vectors(job.queries, split.item_ids, missing=missing, dataset=job.dataset).matrix)
    seq, targets, mask_indptr, mask_items = RetrievalBatches(split).evaluation(Stage.TEST)
    last = seq[:, -1].astype(np.int64)  # left-padded windows: the last column is the most recent item
    arrays = {"items": items, "queries": queries[last], "target_vecs": items[np.asarray(targets, np.int64)],
              "targets": targets, "mask_indptr": mask_indptr, "mask_items": mask_items}
    for name, array in arrays.items():
        _write(folder, name, array)
    inputs = ScoringInputs(dest, n_users=len(targets), n_items=items.shape[0], dim=items.shape[1])
    write_json(folder / "meta.json", asdict(inputs))
    return inputs


def read_inputs(dest: str) -> ScoringInputs:
    """The shapes :func:`prepare_scoring` recorded in ``dest``."""
    return ScoringInputs(**read_json(Location.of(dest) / "meta.json"))


class _Rows:
    """Reads rows of one flat array file into caller-owned numpy buffers (no whole-file read)."""

    def __init__(self, folder: Location, name: str, width: int = 1) -> None:
        self.file = folder.fs.open_input_file((folder / name).path)
        self.itemsize = np.dtype(ARRAYS[name]).itemsize * width
        self.dtype, self.width = ARRAYS[name], width

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        shape = (stop - start, self.width) if self.width > 1 else (stop - start,)
        buf = np.empty(shape, self.dtype) if out is None else out[: stop - start]
        self.file.seek(start * self.itemsize)
        self.file.readinto(memoryview(buf).cast("B"))
        return buf

    def close(self) -> None:
        self.file.close()


def score_chunk(inputs: ScoringInputs, start: int, stop: int, *, item_chunk: int = ITEM_CHUNK,
                device: str = "cpu") -> np.ndarray:
    """(stop - start,) float64 0-based test ranks of users ``start..stop-1``, cosine of last item.

    Args:
        inputs: a folder written by :func:`prepare_scoring`.
        start, stop: the users scored (rows of the queries).
        item_chunk: item rows read and scored at once; with the user count it bounds memory.
        device: the torch device (``cuda`` on a GPU task).
    """
    folder = Location.of(inputs.folder)
    on = torch.device(device)
    files = {n: _Rows(folder, n, inputs.dim if n in ("items", "queries", "target_vecs") else 1) for n in ARRAYS}
    try:
        c = stop - start
        u = torch.from_numpy(files["queries"].read(start, stop)).to(on)  # (c, D)
        t_vecs = torch.from_numpy(files["target_vecs"].read(start, stop)).to(on)  # (c, D)
        t_score = (u @ t_vecs.T).diagonal().unsqueeze(1)  # (c, 1), as full_ranking_ranks computes it
        targets = files["targets"].read(start, stop)
        indptr = files["mask_indptr"].read(start, stop + 1)
        history = files["mask_items"].read(int(indptr[0]), int(indptr[-1]))
        m_items, m_rows = _mask_entries(indptr - indptr[0], history, targets, 0, c)
        width = min(item_chunk, inputs.n_items - 1)
        item_buf = np.empty((width, inputs.dim), np.float32)
        score_buf = torch.from_numpy(np.empty(c * width, np.float32)) if on.type == "cpu" else torch.empty(
            c * width, device=on)
        above = torch.zeros(c, dtype=torch.int64, device=on)
        rows_per_count = max(1, COUNT_BLOCK // max(width, 1))
        for i0 in range(1, inputs.n_items, item_chunk):
            i1 = min(i0 + item_chunk, inputs.n_items)
            block = torch.from_numpy(files["items"].read(i0, i1, item_buf)).to(on)  # (k, D)
            scores = torch.mm(u, block.T, out=score_buf[: c * (i1 - i0)].view(c, i1 - i0))  # (c, k)
            lo, hi = np.searchsorted(m_items, [i0, i1])
            if hi > lo:
                scores[torch.as_tensor(m_rows[lo:hi], device=on), torch.as_tensor(m_items[lo:hi] - i0, device=on)] = (
                    float("-inf"))
            for r0 in range(0, c, rows_per_count):  # the comparison's temporaries stay under COUNT_BLOCK
                r1 = min(r0 + rows_per_count, c)
                above[r0:r1] += (scores[r0:r1] >= t_score[r0:r1]).sum(1)  # pessimistic: a tie counts as above
        return above.cpu().numpy().astype(np.float64)
    finally:
        for f in files.values():
            f.close()


def user_chunks(n_users: int, user_chunk: int = USER_CHUNK) -> list[tuple[int, int]]:
    """(start, stop) of each scoring task's users."""
    return [(a, min(a + user_chunk, n_users)) for a in range(0, n_users, user_chunk)]


def job_key(job: ScoringJob) -> str:
    """A short name for a job's scoring folder."""
    import hashlib

    return hashlib.sha256(json.dumps(asdict(job), sort_keys=True).encode()).hexdigest()[:16]
