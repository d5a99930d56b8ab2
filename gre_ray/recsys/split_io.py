"""Save and load a :class:`~gre_ray.recsys.splits.Split` as a folder, so every model and
every embedding of a benchmark run reads the very same split.

Layout (local path or any ``pyarrow.fs`` URI, written atomically through a ``.partial``
folder then renamed)::

    meta.json          kind, config, dataset, stats, fingerprint, format version
    items.parquet      item_id (string), in dense order: row i is item i + 1
    users.parquet      user_id (string), in dense order
    sequences.parquet  user (int64), item, timestamp, rating, label: the CSR flat arrays
    samples.parquet    stage, user, hist_end, item, label (ranking splits only)

:func:`load_split` recomputes the fingerprint and refuses a folder whose content no longer
matches its ``meta.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.data.storage import Location, read_json, write_json
from gre_ray.errors import DataError
from gre_ray.recsys.sequences import Sequences
from gre_ray.recsys.splits import Samples, Split, SplitConfig, Stage, config_dict

FORMAT_VERSION = 1
_FILES = ("meta.json", "items.parquet", "users.parquet", "sequences.parquet")


def _write(table: pa.Table, loc: Location) -> None:
    pq.write_table(table, loc.path, filesystem=loc.fs, compression="zstd")


def save_split(split: Split, folder: str | Path) -> str:
    """Write ``split`` under ``folder`` (replacing what is there) and return its URI."""
    dest = Location.of(folder)
    tmp = Location(dest.fs, dest.path + ".partial")
    tmp.remove()
    tmp.mkdir()
    seq = split.sequences
    _write(pa.table({"item_id": pa.array(seq.item_ids.astype(str), pa.string())}), tmp / "items.parquet")
    _write(pa.table({"user_id": pa.array(seq.user_ids.astype(str), pa.string())}), tmp / "users.parquet")
    _write(
        pa.table(
            {
                "user": seq.user_of_position(),
                "item": seq.items,
                "timestamp": seq.timestamps,
                "rating": seq.ratings,
                "label": seq.labels,
            }
        ),
        tmp / "sequences.parquet",
    )
    if split.samples:
        parts = []
        for stage, samples in split.samples.items():
            columns = {"stage": np.full(len(samples), stage.value)}
            columns.update(
                user=samples.user, hist_end=samples.hist_end, item=samples.item, label=samples.label
            )
            parts.append(pa.table(columns))
        _write(pa.concat_tables(parts), tmp / "samples.parquet")
    meta = {
        "format_version": FORMAT_VERSION,
        "dataset": split.dataset,
        "config": config_dict(split.config),
        "stats": split.stats,
        "fingerprint": split.fingerprint,
        "n_users": split.n_users,
        "n_items": split.n_items,
    }
    write_json(tmp / "meta.json", meta)
    dest.remove()
    tmp.move_to(dest)
    return dest.uri


def _read(loc: Location) -> pa.Table:
    try:
        return pq.read_table(loc.path, filesystem=loc.fs)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{loc.uri}: cannot read split file: {exc}") from None


def load_split(folder: str | Path) -> Split:
    """Read a split written by :func:`save_split`.

    Raises:
        DataError: a file is missing or unreadable, the format version is unknown, or the
            content does not match the recorded fingerprint.
    """
    src = Location.of(folder)
    for name in _FILES:
        if not (src / name).exists():
            raise DataError(f"{src.uri}: not a saved split (no {name})")
    meta = read_json(src / "meta.json")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{src.uri}: split format version {meta.get('format_version')}, expected {FORMAT_VERSION}"
        )
    config = SplitConfig(**meta["config"])
    seq_table = _read(src / "sequences.parquet")
    users = seq_table.column("user").to_numpy()
    user_ids = np.asarray(_read(src / "users.parquet").column("user_id").to_pylist(), dtype=object)
    indptr = np.zeros(len(user_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=len(user_ids)), out=indptr[1:])
    sequences = Sequences(
        user_ids=user_ids,
        item_ids=np.asarray(_read(src / "items.parquet").column("item_id").to_pylist(), dtype=object),
        indptr=indptr,
        items=seq_table.column("item").to_numpy().astype(np.int64),
        timestamps=seq_table.column("timestamp").to_numpy().astype(np.int64),
        ratings=seq_table.column("rating").to_numpy().astype(np.float32),
        labels=seq_table.column("label").to_numpy().astype(np.int8),
    )
    samples = {}
    if (src / "samples.parquet").exists():
        table = _read(src / "samples.parquet")
        stage_col = np.asarray(table.column("stage").to_pylist())
        for stage in Stage:
            idx = np.flatnonzero(stage_col == stage.value)
            samples[stage] = Samples(
                **{name: table.column(name).to_numpy()[idx] for name in ("user", "hist_end", "item", "label")}
            )
    split = Split(meta["dataset"], config, sequences, samples, dict(meta["stats"]))
    if split.fingerprint != meta["fingerprint"]:
        raise DataError(
            f"{src.uri}: content fingerprint {split.fingerprint} differs from meta.json's "
            f"{meta['fingerprint']}; the split was modified after it was saved"
        )
    return split
