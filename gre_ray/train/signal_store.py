"""The held-out signal on storage: each domain's ``DomainSignal`` as files, named by a :class:`SignalRef`.

A domain's candidate pool holds up to ``signal_pool`` item texts (100,000 by default), so
the Ray wiring (:mod:`gre_ray.wiring.train_signal`) never gathers pools in the driver: the
per-file rounds stage their items' texts as Parquet parts (:func:`stage_lookup`,
:func:`stage_texts`), one task per domain builds the domain's signal from them and writes it
(:func:`build_domain`), and the driver keeps a :class:`SignalRef` per domain (counts and a
URI). Training workers and the WiSE-FT task read the signal back (:func:`load_signals`).

A domain's folder, ``<signal>/<domain>/`` (the domain name percent-quoted)::

    pool.parquet       item_id, text: the candidate pool, sorted by item id
    users.parquet      query, target, random (int64 pool indices), history (list<int64>:
                       the masked earlier items, Parquet's offsets + values), one row per user
    unrelated.parquet  a, b (int64): the random pool pairs of the mean unrelated cosine
    signal.json        domain, users, pool, catalogue (written last: the folder is complete)

Staged parts, removed once the domains are built: ``<signal>/_parts/<domain>/sample-NNNNNN.parquet``
and ``extra-NNNNNN.parquet`` (``item_id``, ``text``; NNNNNN: the item file's position).
Pure pyarrow/numpy; no pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gre_ray.data.shared import check_shared, shared_uri
from gre_ray.data.storage import Location, read_json, write_json
from gre_ray.train import signal_pool
from gre_ray.train.signal import DomainSignal, build_task

PARTS = "_parts"
META = "signal.json"


@dataclass(frozen=True)
class SignalRef:
    """What the driver keeps of a domain's held-out signal: its counts and where it lies.

    Attributes:
        domain: the domain.
        uri: the domain's folder (a URI every node resolves: ``file://`` for a local run folder).
        users: held-out users scored.
        pool: items in the candidate pool.
        catalogue: items of the domain.
    """

    domain: str
    uri: str
    users: int
    pool: int
    catalogue: int

    def __post_init__(self) -> None:
        check_shared(self.uri, f"held-out signal of domain {self.domain!r}")  # it crosses Ray boundaries

    @property
    def whole_catalogue(self) -> bool:
        return self.catalogue <= self.pool


def domain_folder(root: Location, domain: str) -> Location:
    """``root/<domain>``, the name percent-quoted (a ``/`` in a domain stays one folder)."""
    return root / quote(domain, safe="")


def _write(table: pa.Table, loc: Location) -> None:
    pq.write_table(table, loc.path, filesystem=loc.fs, compression="zstd")


def _read(loc: Location) -> pa.Table:
    return pq.read_table(loc.path, filesystem=loc.fs)


# ---------------------------------------------------------------- a domain's signal


def write_signal(task: DomainSignal, folder: Location) -> SignalRef:
    """Write ``task`` to ``folder`` (replaced) and return its reference."""
    folder.remove()
    folder.mkdir()
    _write(pa.table({"item_id": pa.array(task.item_ids, pa.string()), "text": pa.array(task.texts, pa.string())}),
           folder / "pool.parquet")
    lengths = np.array([len(h) for h in task.history], dtype=np.int64)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    values = pa.array(np.concatenate(task.history).astype(np.int64) if len(task.history) else np.zeros(0, np.int64))
    _write(pa.table({"query": pa.array(np.asarray(task.queries, np.int64)),
                     "target": pa.array(np.asarray(task.targets, np.int64)),
                     "random": pa.array(np.asarray(task.randoms, np.int64)),
                     "history": pa.ListArray.from_arrays(offsets, values)}), folder / "users.parquet")
    pairs = np.asarray(task.unrelated, np.int64).reshape(-1, 2)
    _write(pa.table({"a": pa.array(pairs[:, 0]), "b": pa.array(pairs[:, 1])}), folder / "unrelated.parquet")
    ref = SignalRef(task.domain, shared_uri(folder), len(task.queries), len(task.item_ids), task.catalogue)
    write_json(folder / META, {"domain": ref.domain, "users": ref.users, "pool": ref.pool, "catalogue": ref.catalogue})
    return ref


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    return np.array(column.to_numpy(), dtype=np.int64)  # a writable copy


def read_signal(uri: str) -> DomainSignal:
    """The :class:`DomainSignal` that :func:`write_signal` wrote to ``uri``."""
    folder = Location.of(uri)
    meta = read_json(folder / META)
    pool = _read(folder / "pool.parquet")
    users = _read(folder / "users.parquet")
    history: list[np.ndarray] = []
    if users.num_rows:
        lists = users.column("history").combine_chunks()
        flat = np.array(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
        offsets = lists.offsets.to_numpy()
        history = np.split(flat, (offsets - offsets[0])[1:-1])
    pairs = _read(folder / "unrelated.parquet")
    return DomainSignal(
        meta["domain"], pool.column("item_id").to_pylist(), pool.column("text").to_pylist(),
        _ints(users.column("query")), _ints(users.column("target")), history, _ints(users.column("random")),
        np.stack([_ints(pairs.column("a")), _ints(pairs.column("b"))], axis=1), int(meta["catalogue"]),
    )


def load_signals(refs: Sequence[SignalRef]) -> list[DomainSignal]:
    """The signals of ``refs``, in their order (read where this runs: a worker, the WiSE-FT task)."""
    return [read_signal(ref.uri) for ref in refs]


# ---------------------------------------------------------------- staged parts and the build


def _stage(part: pa.Table, parts: Location, domain: str, kind: str, index: int) -> None:
    """A domain's ``item_id``, ``text`` rows of one item file as ``parts/<domain>/<kind>-<index>.parquet``."""
    if part.num_rows:
        folder = domain_folder(parts, domain)
        folder.mkdir()
        _write(part.select(["item_id", "text"]), folder / f"{kind}-{index:06d}.parquet")


def stage_lookup(
    table: pa.Table, named: dict[str, pa.Array], thresholds: dict[str, int | None], seed: int,
    parts: Location, index: int,
) -> dict[str, dict[str, pa.Array]]:
    """:func:`~gre_ray.train.signal_pool.item_lookup` of one item file, its sample staged under ``parts``.

    Returns:
        Per domain ``found`` (the ids of ``named`` that are items) and ``sampled`` (those of
        them in the sample), bounded by the candidate users' rows; never a text.
    """
    out = {}
    for domain, got in signal_pool.item_lookup(table, named, thresholds, seed).items():
        _stage(got["sample"], parts, domain, "sample", index)
        ids = got["sample"].column("item_id")
        wanted = named.get(domain, pa.array([], pa.string()))
        out[domain] = {"found": got["found"], "sampled": ids.filter(pc.is_in(ids, wanted)).combine_chunks()}
    return out


def merge_found(parts: Sequence[dict[str, dict[str, pa.Array]]]) -> dict[str, dict[str, pa.Array]]:
    """The union of :func:`stage_lookup` results, per domain."""
    acc: dict[str, dict[str, list]] = {}
    for part in parts:
        for domain, got in part.items():
            into = acc.setdefault(domain, {"found": [], "sampled": []})
            for key in into:
                into[key].append(got[key].cast(pa.string()))
    return {d: {k: pa.concat_arrays(v) for k, v in got.items()} for d, got in acc.items()}


def stage_texts(table: pa.Table, wanted: dict[str, pa.Array], parts: Location, index: int) -> int:
    """Stage the texts of the ``wanted`` items of one item file (the pool's extras); returns their count."""
    texts = signal_pool.item_texts(table, wanted)
    for domain, part in signal_pool.by_domain(texts):
        _stage(part, parts, domain, "extra", index)
    return texts.num_rows


def read_parts(parts: Location, kind: str) -> pa.Table:
    """The staged ``kind`` parts of a domain, in item file order (``item_id``, ``text``)."""
    files = [f for f in parts.files() if f.base_name.startswith(f"{kind}-")]
    files.sort(key=lambda f: int(f.base_name[len(kind) + 1:].split(".")[0]))
    tables = [pq.read_table(f.path, filesystem=parts.fs) for f in files]
    if not tables:
        return pa.table({"item_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    return pa.concat_tables(tables, promote_options="permissive")


def build_domain(domain: str, k: int, rows: pa.Table, found: pa.Array, signal: Location, catalogue: int,
                 seed: int, max_users: int) -> SignalRef:
    """Build one domain's signal from its staged parts, write it under ``signal`` and return its reference.

    Args:
        domain, k, rows, found, catalogue, seed, max_users: as :func:`gre_ray.train.signal.build_task`.
        signal: the signal folder (its ``_parts`` hold the domain's staged texts).
    """
    parts = domain_folder(signal / PARTS, domain)
    task = build_task(domain, k, rows, found, read_parts(parts, "sample"), read_parts(parts, "extra"),
                      catalogue, seed, max_users)
    return write_signal(task, domain_folder(signal, domain))


# ---------------------------------------------------------------- the centering texts


def center_slices(pools: Sequence[int], limit: int) -> list[tuple[int, int, int]]:
    """Per pool, the ``(start, stop, step)`` of the texts that a stride over all pools' texts
    joined (``step = max(1, total // limit)``, at most ``limit``) picks from it."""
    total = sum(pools)
    step = max(1, total // limit) if limit > 0 else 1
    end = min(total, limit * step)  # one past the last picked position
    out, offset = [], 0
    for n in pools:
        out.append(((-offset) % step, max(0, min(n, end - offset)), step))
        offset += n
    return out


def strided_texts(uri: str, start: int, stop: int, step: int, batch: int = 8192) -> list[str]:
    """The pool texts ``[start:stop:step]`` of the signal at ``uri``, read a batch at a time."""
    loc = Location.of(uri) / "pool.parquet"
    out: list[str] = []
    if start >= stop:
        return out
    seen = 0
    with loc.fs.open_input_file(loc.path) as stream:
        for rows in pq.ParquetFile(stream).iter_batches(batch_size=batch, columns=["text"]):
            lo = start + -(-max(0, seen - start) // step) * step  # the first picked position from here on
            hi = min(stop, seen + rows.num_rows)
            if lo < hi:
                out += rows.column(0).take(pa.array(np.arange(lo, hi, step) - seen)).to_pylist()
            seen += rows.num_rows
            if seen >= stop:
                break
    return out

