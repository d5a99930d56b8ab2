"""Ingesting in one process, without Ray: the reference the Ray stage is tested against.

The same plan, parse and assemble functions as :mod:`gre_ray.stages.ingest`, run one chunk
after another with the staging blocks written straight to Parquet. Tests use it to check
adapters end to end in milliseconds, and the Ray stage's output must equal it.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from gre_ray.data.storage import Location
from gre_ray.ingest.assemble import Assembly, Outputs, assemble
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.parse import ParseJob, parse_chunk
from gre_ray.ingest.sources import Dataset, plan, resolve
from gre_ray.ingest.tokens import count_row_group, resolve_tokenizer, row_groups, summarize


def job_for(dataset: Dataset, config: IngestConfig) -> ParseJob:
    """The parse settings of ``dataset`` under ``config``."""
    return ParseJob(
        adapter=dataset.adapter,
        options=dataset.options,
        text_fields=dataset.text_fields,
        text=config.text,
        min_timestamp=dataset.filters.min_timestamp,
        max_timestamp=dataset.filters.max_timestamp,
        block_lines=config.block_lines,
        strict=config.strict,
    )


def outputs_under(folder: Location) -> Outputs:
    """The four artifact folders under ``folder``."""
    return Outputs(folder / "items", folder / "interactions", folder / "id_maps", folder / "quarantine")


def ingest_locally(config: IngestConfig, folder: str) -> dict[str, Assembly]:
    """Ingest every dataset of ``config`` into ``folder`` sequentially.

    Args:
        config: the ingest settings.
        folder: where the artifacts go (``items/``, ``interactions/``, ``id_maps/``,
            ``quarantine/``, one Parquet file per dataset each).

    Returns:
        Each dataset's assembly (statistics and counts), by name.
    """
    out = Location.of(folder)
    results = {}
    for dataset in resolve(config):
        staging = out / "_staging" / dataset.name
        staging.mkdir()
        job = job_for(dataset, config)
        for chunk in plan(dataset, config.chunk_bytes):
            for n, block in enumerate(parse_chunk(chunk, job)):
                pq.write_table(block, (staging / f"{chunk.file.index}-{chunk.index}-{n}.parquet").path, filesystem=staging.fs)
        outputs = outputs_under(out)
        results[dataset.name] = result = assemble(staging, dataset, outputs, config.strict)
        staging.remove()
        tokenizer = resolve_tokenizer(config.token_tokenizer)
        if tokenizer:
            part = outputs.items / f"{dataset.name}.parquet"
            counts = [count_row_group(part.uri, g, tokenizer) for g in range(row_groups(part.uri))]
            result.stats["table1"].update(summarize(np.concatenate(counts)))
    (out / "_staging").remove()
    return results
