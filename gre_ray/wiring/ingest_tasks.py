"""Ray wiring of the ``ingest`` stage: parse tasks per chunk, ``.gz`` splitting, token counts.

The stage (:mod:`gre_ray.stages.ingest`) keeps up to ``ingest.concurrent_datasets``
datasets parsing: :func:`launch` submits a dataset's parse tasks (the pure
:func:`gre_ray.ingest.parse.parse_to_staging`, one per chunk, or
:func:`split_gzip_to_staging` for a ``.gz`` file cut into pieces), :func:`wait` waits for
them and turns a strict-mode error into one DataError line, and :func:`token_counts`
counts the kept item texts' tokens on Ray Data. Tasks are plain functions rather than an
actor pool: on a small machine an actor pool took ~18 s to start against ~0.3 s for tasks,
and the only state, the tokenizer, is cached per worker process
(:func:`~gre_ray.ingest.tokens.token_counter`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gre_ray.data.storage import Location
from gre_ray.errors import DataError, find_user_error
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.files import Chunk, gzip_pieces
from gre_ray.ingest.local import job_for
from gre_ray.ingest.parse import ParseJob, parse_to_staging
from gre_ray.ingest.sources import Dataset, plan
from gre_ray.ingest.tokens import count_row_group, row_groups


def parse_slots() -> int:
    """Parse tasks a ``.gz`` splitter keeps in flight: the cluster's CPUs, plus one."""
    import ray

    return int(ray.cluster_resources().get("CPU", 1)) + 1


def split_gzip_to_staging(chunk: Chunk, job: ParseJob, staging_uri: str, piece_bytes: int, in_flight: int, stop_uri: str) -> int:
    """Ray task: stream a ``.gz`` file into pieces and have parse tasks consume them, ``in_flight`` at most.

    Returns the staging rows written. A parse task's error (strict mode) is raised here. When the
    driver has written ``stop_uri`` (another dataset failed in strict mode), no further piece is
    started: the pieces in flight finish and the task returns early.
    """
    import ray

    parse = _remote("parse")
    stop = Location.of(stop_uri)
    pending: list[Any] = []
    rows = 0
    for piece in gzip_pieces(chunk.file, piece_bytes):
        if stop.exists():
            break
        part = replace(chunk, index=piece.index, skip_header=chunk.skip_header and piece.index == 0,
                       line_offset=0 if piece.index == 0 else None)  # fmt: skip
        pending.append(parse.remote(part, job, staging_uri, piece))
        if len(pending) >= in_flight:
            done, pending = ray.wait(pending, num_returns=1)
            rows += sum(ray.get(done))
    return rows + sum(ray.get(pending))


_REMOTE: dict[str, Any] = {}


def _remote(name: str) -> Any:
    """The Ray remote function of ``name``, made once per process (this module imports Ray lazily)."""
    if name not in _REMOTE:
        import ray

        _REMOTE["parse"] = ray.remote(num_cpus=1, max_retries=0)(parse_to_staging)
        # decompressing takes a fraction of a core and mostly waits on its parse tasks
        _REMOTE["split"] = ray.remote(num_cpus=0, max_retries=0)(split_gzip_to_staging)
    return _REMOTE[name]


def count_tokens(batch: dict[str, Any], uri: str, tokenizer: str) -> dict[str, Any]:
    """Ray Data map function: token counts of the item row groups named in ``batch``."""
    counts = [count_row_group(uri, int(group), tokenizer) for group in batch["group"]]
    return {"tokens": np.concatenate(counts) if counts else np.empty(0, np.int64)}


def token_counts(items: Location, tokenizer: str) -> np.ndarray:
    """Token counts of every item text of ``items``, one Ray Data task per row group."""
    import ray.data

    groups = row_groups(items.uri)
    if not groups:
        return np.empty(0, np.int64)
    blocks = ray.data.from_items([{"group": g} for g in range(groups)], override_num_blocks=groups)
    counted = blocks.map_batches(count_tokens, fn_kwargs={"uri": items.uri, "tokenizer": tokenizer}, batch_size=1, batch_format="numpy")
    return np.concatenate([b["tokens"] for b in counted.iter_batches(batch_format="numpy", batch_size=None)] or [np.empty(0, np.int64)])


def launch(dataset: Dataset, settings: IngestConfig, staging: Location, in_flight: int, stop: Location) -> list[Any]:
    """Submit the parse tasks of ``dataset``; their object refs. ``stop``: see :func:`wait`."""
    staging.mkdir()
    job = job_for(dataset, settings)
    refs = []
    for chunk in plan(dataset, settings.chunk_bytes):
        if settings.gzip_split and chunk.file.gzip and chunk.file.fmt.line_based and chunk.file.size > settings.chunk_bytes // 8:
            refs.append(_remote("split").remote(chunk, job, staging.uri, settings.chunk_bytes, in_flight, stop.uri))
        else:
            refs.append(_remote("parse").remote(chunk, job, staging.uri))
    return refs


def wait(refs: list[Any], others: Any = (), stop: Location | None = None) -> None:
    """Wait for parse tasks; a user error raised in a task (strict mode) becomes one DataError line.

    Before it is raised, the other tasks of the stage (``others``: (dataset, refs, start)
    of the datasets still parsing) are told to stop (the ``stop`` marker, which a ``.gz``
    splitter reads before each piece) and drained, so no task is left writing into a folder
    that is about to be removed and Ray prints no "Unhandled error" for them. Tasks are not
    cancelled with ``ray.cancel``: a cancel that races a task's completion aborts the driver
    in Ray's core worker ("Tried to complete task that was not pending",
    ray-project/ray#54798); a parse task is bounded by ``ingest.chunk_bytes``.
    """
    import ray

    try:
        ray.get(refs)
    except Exception as exc:  # noqa: BLE001 - a DataError from a task (strict mode) becomes one line
        error = find_user_error(exc)
        if error is None:
            raise
        pending = [*refs, *(ref for _, more, _ in others for ref in more)]
        if stop is not None:
            stop.write_text(str(error).splitlines()[0])
        for ref in pending:
            try:
                ray.get(ref)
            except Exception:  # noqa: BLE001, S110 - failed too: only the first error is reported
                pass
        raise DataError(str(error).splitlines()[0]) from None
