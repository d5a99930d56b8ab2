"""The GRE-B results store: every finished trial's rows, keyed by what determined them.

Layout (local folder or URI)::

    <run.root>/results_store/trials/part-<writer>-<trial key>-<id>.parquet
    <run.root>/results_store/zero_shot/part-<writer>-<id>.parquet

Append-only: a writer adds one Parquet file per trial (or per batch of rows) under a name
no other writer can pick, and never rewrites or deletes a file, so two benchmark jobs
writing into one store at once lose nothing and need no lock. A local file is written
under a hidden temporary name and renamed into place (atomic); an object store's single
PUT is atomic already. Readers list the ``part-*`` files, so they never see half a file.

Two jobs that ran the same trial both append it; :meth:`ResultsStore.read` keeps one
copy per (key, metric), the first written, so the table never holds a row twice.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.errors import DataError

STORE_DIR = "results_store"
TRIALS, ZERO_SHOT = "trials", "zero_shot"
PART_PREFIX = "part-"


def writer_id() -> str:
    """A name for this process as a writer: host, pid and a random part."""
    return f"{socket.gethostname().split('.')[0]}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class ResultsStore:
    """One results store folder (see the module docstring).

    Args:
        root: the store folder, e.g. ``<run.root>/results_store``.
    """

    def __init__(self, root: Location | str) -> None:
        self.root = root if isinstance(root, Location) else Location.of(root)

    @classmethod
    def of_run(cls, run_root: Location) -> "ResultsStore":
        return cls(run_root / STORE_DIR)

    def append(self, rows: pd.DataFrame, table: str = TRIALS, tag: str = "") -> Location | None:
        """Add ``rows`` to ``table`` as one new file; returns it (None when ``rows`` is empty)."""
        if rows.empty:
            return None
        folder = self.root / table
        folder.mkdir()
        name = f"{PART_PREFIX}{writer_id()}{'-' + tag if tag else ''}-{uuid.uuid4().hex[:8]}.parquet"
        frame = rows.assign(written_at=now()) if "written_at" not in rows.columns else rows
        data = pa.Table.from_pandas(frame, preserve_index=False)
        dest = folder / name
        if dest.is_local:
            tmp = folder / f".{name}.partial"
            pq.write_table(data, tmp.path, filesystem=tmp.fs)
            tmp.move_to(dest)
        else:
            pq.write_table(data, dest.path, filesystem=dest.fs)
        return dest

    def parts(self, table: str = TRIALS) -> list[Location]:
        folder = self.root / table
        return [c for c in folder.children() if c.name.startswith(PART_PREFIX) and c.name.endswith(".parquet")]

    def read(self, table: str = TRIALS, unique: tuple[str, ...] = ("key", "metric")) -> pd.DataFrame:
        """Every row of ``table``, one per ``unique`` value (the first written wins).

        Raises:
            DataError: a part file that is not readable Parquet (named).
        """
        frames = []
        for part in self.parts(table):
            try:
                frame = pq.read_table(part.path, filesystem=part.fs).to_pandas()
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"{part.uri}: unreadable results store file: {exc}") from None
            frames.append(frame.assign(_part=part.name))
        if not frames:
            return pd.DataFrame()
        rows = pd.concat(frames, ignore_index=True)
        rows = rows.sort_values(["written_at", "_part"], kind="stable")
        rows = rows.drop_duplicates(list(unique), keep="first").drop(columns="_part")
        return rows.reset_index(drop=True)

    def keys(self) -> set[str]:
        """Keys of the trials stored (every stored trial finished with finite test metrics)."""
        rows = self.read()
        return set(rows["key"]) if not rows.empty else set()


def find_store(path: str) -> ResultsStore | None:
    """The store behind ``path``: a store folder, or a run folder holding one (None: neither)."""
    loc = Location.of(path)
    for candidate in (loc, loc / STORE_DIR):
        if (candidate / TRIALS).is_dir() or (candidate / ZERO_SHOT).is_dir():
            return ResultsStore(candidate)
    return None


def read_stores(stores: list[ResultsStore], table: str = TRIALS) -> pd.DataFrame:
    """The rows of several stores merged (a trial measured in two of them counts once)."""
    frames = [s.read(table) for s in stores]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True).sort_values("written_at", kind="stable")
    return rows.drop_duplicates(["key", "metric"], keep="first").reset_index(drop=True)
