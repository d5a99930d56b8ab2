"""A training stage's input rows summarized on Ray: one task per Parquet file, folded in file order.

The task body is :func:`gre_ray.train.row_summary.summarize` on one file (read and checked
against the contract there); the driver folds the files' summaries in file order
(:func:`gre_ray.train.row_summary.merge`), so it holds counts, at most ``limit`` held-out
rows and ``text_limit`` texts, never the input: the contrastive stage's pairs grow with the
corpus. A bad file stops the run with the one-line message naming it.
"""

from __future__ import annotations

from typing import Any

from gre_ray.data.schema import Contract
from gre_ray.data.storage import Location, read_table
from gre_ray.errors import DataError
from gre_ray.train.row_summary import RowSummary, merge, summarize


def _summarize_file(file: Location, contract: Contract, kind: str, options: dict[str, Any]) -> tuple[str | None, Any]:
    """(None, the file's summary), or (the one-line message, None): a DataError does not cross Ray as itself."""
    try:
        return None, summarize(read_table(file, contract), kind, source=file.uri, **options)
    except DataError as exc:
        return str(exc), None


def summarize_rows(source: Location, contract: Contract, kind: str, fraction: float, seed: int, *,
                   hard_negatives: int = 0, limit: int, text_limit: int = 0) -> RowSummary:
    """The :class:`~gre_ray.train.row_summary.RowSummary` of the Parquet files of ``source``.

    Raises:
        DataError: ``source`` does not exist, or a file is not Parquet, breaks ``contract``
            or (pairs) has a pair without a text; the first such file in order is named.
    """
    import ray

    if not source.exists():
        raise DataError(f"{source.uri}: file or folder does not exist")
    files = [Location(source.fs, f.path, source.query) for f in source.files()
             if not f.base_name.startswith(("_", "."))]  # what pyarrow's dataset discovery reads
    options = {"fraction": fraction, "seed": seed, "hard_negatives": hard_negatives, "limit": limit,
               "text_limit": text_limit}
    task = ray.remote(num_cpus=1)(_summarize_file)
    refs = [task.remote(f, contract, kind, options) for f in files]
    total = RowSummary()
    for ref in refs:  # in file order: the held-out rows are the first ones of the files joined
        error, part = ray.get(ref)
        if error:
            raise DataError(error)
        total = merge(total, part, limit=limit, text_limit=text_limit)
    return total
