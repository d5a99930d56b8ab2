"""The Ray Data callable that embeds batches of items: one model per actor, Arrow in, Arrow out.

Ray Data constructs :class:`EmbedBatch` once per actor (so the model loads once) and
calls it with pyarrow tables of ``item_id`` and ``text``. Each call sorts its rows by
token count and splits them into forward passes by token budget; with calls of ~1,000
rows of mixed lengths this pads almost as little as a global sort would, without an
all-to-all shuffle of the texts (``benchmarks/RESULTS.md`` has the figures).

The output keeps ``embedding`` as ``fixed_size_list<float32>[dim]`` plus per-row
bookkeeping columns (:data:`STAT_COLUMNS`: token counts, truncation, empty texts, a text
hash for duplicate counting, wall and CPU seconds, the actor's peak memory and decoding
errors), which the pipeline
aggregates into the manifest and drops before writing. Ray is not imported here: the Ray
Data wiring (:class:`gre_ray.wiring.embed_pipeline.PlacedEmbedBatch`) passes in the torch
device Ray gave the actor and its Ray node id, which becomes part of its worker name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import socket
import time

import numpy as np
import pyarrow as pa

from gre_ray.embed.config import Device, EncoderConfig
from gre_ray.embed.devices import device_defaults
from gre_ray.embed.vectors import fixed_size_list
from gre_ray.errors import DataError

STAT_COLUMNS = (
    "_n_tokens", "_padded_tokens", "_truncated", "_empty", "_text_hash", "_busy_s", "_cpu_s", "_peak_rss_mb", "_worker",
    "_error",
)


def decode_texts(batch: pa.Table) -> tuple[list[str], list[str | None]]:
    """The ``text`` column as Python strings, and an error message per row (None when fine).

    Nulls become empty texts. A text that is not valid UTF-8 becomes an empty text with
    a message naming its item; the pipeline raises a DataError from the messages. The
    error travels as data rather than as an exception because Ray Data re-wraps
    exceptions raised in actors and the DataError type does not survive to the driver.
    """
    column = batch.column("text").combine_chunks()
    errors: list[str | None] = [None] * batch.num_rows
    try:
        column.validate(full=True)  # Arrow checks UTF-8 here
    except pa.ArrowInvalid:
        raws = column.cast(pa.binary()).to_pylist()
        texts = []
        for i, (item_id, raw) in enumerate(zip(batch.column("item_id").to_pylist(), raws)):
            try:
                texts.append((raw or b"").decode("utf-8"))
            except UnicodeDecodeError as exc:
                texts.append("")
                errors[i] = f"text of item {item_id!r} is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        return texts, errors
    return [text or "" for text in column.to_pylist()], errors


def check_utf8(table: pa.Table, source: str) -> None:
    """Raise DataError naming the first item whose text is not valid UTF-8."""
    for start in range(0, table.num_rows, 65_536):
        errors = [e for e in decode_texts(table.slice(start, 65_536).select(["item_id", "text"]))[1] if e]
        if errors:
            raise DataError(f"{source}: {errors[0]}")


def text_hash(texts: list[str]) -> np.ndarray:
    """A 64-bit hash of each text, to count duplicate texts without keeping them."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
        dtype=np.uint64, count=len(texts),
    )


class EmbedBatch:
    """Embed ``item_id``/``text`` batches with one encoder per actor.

    Args:
        encoder: which vectors to compute.
        token_budget: most padded tokens per forward pass; None: the device's default
            (:func:`gre_ray.embed.devices.device_defaults`).
        max_batch_rows: most rows per forward pass.
        cpu_threads: torch threads when running on CPU (one per actor: on 2 cores two
            threads per process ran 3x slower than one, DESIGN.md).
        gpu_device: the device of an actor Ray gave a GPU share: CUDA, or the CPU on a
            simulated cluster (:func:`gre_ray.wiring.accelerator.gpu_device`); None for a
            CPU actor.
        node: the Ray node the actor runs on (empty outside Ray), part of its worker name.
    """

    def __init__(
        self, encoder: EncoderConfig, token_budget: int | None, max_batch_rows: int, cpu_threads: int = 1,
        gpu_device: Device | None = None, node: str = "",
    ) -> None:
        import torch

        from gre_ray.embed.encoder import Encoder

        if gpu_device is not None:
            encoder = dataclasses.replace(encoder, device=gpu_device)
        else:
            torch.set_num_threads(cpu_threads)  # before loading: graph runtimes read it once
        self.encoder = Encoder.from_config(encoder)
        if self.encoder.device.type == "cpu":
            torch.set_num_threads(cpu_threads)
        self.token_budget = token_budget or device_defaults(self.encoder.device.type).token_budget
        self.max_batch_rows = max_batch_rows
        self.worker = f"{socket.gethostname()}:{os.getpid()}" + (f"@{node}" if node else "")

    def __call__(self, batch: pa.Table) -> pa.Table:
        start, cpu_start = time.perf_counter(), time.process_time()
        texts, errors = decode_texts(batch)
        encoded = self.encoder.encode_with_stats(
            texts, token_budget=self.token_budget, max_batch_rows=self.max_batch_rows
        )
        rows = batch.num_rows
        busy = (time.perf_counter() - start) / max(rows, 1)
        cpu = (time.process_time() - cpu_start) / max(rows, 1)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        return pa.table({
            "item_id": batch.column("item_id").cast(pa.string()),
            "embedding": fixed_size_list(encoded.vectors),
            "_n_tokens": pa.array(encoded.n_tokens, pa.int32()),
            "_padded_tokens": pa.array(encoded.padded_tokens, pa.int32()),
            "_truncated": pa.array(encoded.truncated, pa.bool_()),
            "_empty": pa.array(encoded.empty, pa.bool_()),
            "_text_hash": pa.array(text_hash(texts), pa.uint64()),
            "_busy_s": pa.array(np.full(rows, busy), pa.float64()),
            "_cpu_s": pa.array(np.full(rows, cpu), pa.float64()),
            "_peak_rss_mb": pa.array(np.full(rows, peak_mb), pa.float32()),
            "_worker": pa.array([self.worker] * rows, pa.string()),
            "_error": pa.array(errors, pa.string()),
        })
