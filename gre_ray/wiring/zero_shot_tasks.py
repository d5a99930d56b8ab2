"""The zero-training tier's scoring as Ray tasks, chunked so no process holds a catalogue's scores.

For every (dataset, embedding) still missing from the results store: one task prepares
its scoring inputs (:func:`gre_ray.bench.zero_shot_chunks.prepare_scoring`, the vectors
aligned and normalised into flat files under the run's work folder), then one task per
chunk of test users scores it (:func:`~gre_ray.bench.zero_shot_chunks.score_chunk`),
on a GPU share when the benchmark's trials get GPUs. All the preparations run at once,
then all the chunks, so the cluster scores every dataset together; the driver only
concatenates the ranks. The work folder is removed afterwards.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import numpy as np
import ray
import torch

from gre_ray.bench.zero_shot_chunks import (ITEM_CHUNK, USER_CHUNK, ScoringInputs, ScoringJob, job_key,
                                            prepare_scoring, score_chunk, user_chunks)
from gre_ray.data.shared import shared_uri
from gre_ray.data.storage import Location
from gre_ray.wiring import autoscale
from gre_ray.wiring.accelerator import gpu_device

log = logging.getLogger("gre_ray")


def placed_score_chunk(inputs: ScoringInputs, start: int, stop: int, item_chunk: int, gpu: bool) -> np.ndarray:
    """:func:`~gre_ray.bench.zero_shot_chunks.score_chunk` on the device Ray gave the task."""
    device = gpu_device("zero-training scoring task").type if gpu else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)
    return score_chunk(inputs, start, stop, item_chunk=item_chunk, device=device)


def scoring_gpus(gpus: float) -> float:
    """The trials' GPU share for a scoring task, or 0 on a cluster that has no GPU and cannot
    get one (no autoscaler): scoring needs no GPU, and a GPU task there would wait forever."""
    if gpus > 0 and not ray.cluster_resources().get("GPU", 0) and autoscale.current_limits() is None:
        log.info("zero-training tier: the cluster has no GPU, scoring on CPUs")
        return 0.0
    return gpus


def cluster_ranks(
    jobs: list[ScoringJob], work: Location, *, gpus: float = 0.0, user_chunk: int = USER_CHUNK,
    item_chunk: int = ITEM_CHUNK,
) -> list[np.ndarray]:
    """The ranks of every job, scored in Ray tasks (one list entry per job, in order).

    Args:
        jobs: the (dataset, embedding) pairs to score (URIs every node opens).
        work: a folder every node sees (under the run folder); cleaned up afterwards.
        gpus: GPUs per scoring task (the trials' share); 0 runs on CPUs.
        user_chunk, item_chunk: users per task, item rows scored at once.
    """
    if not jobs:
        return []
    folder = work / f"zero_shot-{uuid.uuid4().hex[:8]}"
    try:
        prepare = ray.remote(num_cpus=1)(prepare_scoring)
        prepared = ray.get([prepare.remote(job, shared_uri(folder / job_key(job))) for job in jobs])
        score = ray.remote(num_cpus=1, num_gpus=gpus or None)(placed_score_chunk)
        refs = [[score.remote(inputs, a, b, item_chunk, gpus > 0) for a, b in user_chunks(inputs.n_users, user_chunk)]
                for inputs in prepared]
        out = [np.concatenate(ray.get(chunks)) if chunks else np.zeros(0) for chunks in refs]
        log.info("zero-training tier: %d (dataset, embedding) scored in %d Ray tasks", len(jobs),
                 sum(map(len, refs)) + len(jobs))
        return out
    finally:
        folder.remove()


def cluster_scorer(work: Location, gpus: float, ensure_ray: Callable[[], None]
                   ) -> Callable[[list[ScoringJob]], list[np.ndarray]]:
    """The ``rank_jobs`` of :func:`gre_ray.bench.zero_shot.zero_shot_table` that scores on the
    cluster; Ray is started only when some job is missing from the results store."""

    def rank(jobs: list[ScoringJob]) -> list[np.ndarray]:
        if not jobs:
            return []
        ensure_ray()
        return cluster_ranks(jobs, work, gpus=scoring_gpus(gpus))

    return rank
