"""Tiny GRE-B inputs shared by the benchmark tests: two demo domains, their saved splits and
a random embeddings table per domain."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.bench.config import BenchmarkConfig, EmbeddingModel
from gre_ray.bench.prepare import split_configs
from gre_ray.bench.trials import DatasetInputs
from gre_ray.demo.generator import DemoDataConfig, generate_domain
from gre_ray.recsys.split_io import save_split
from gre_ray.recsys.splits import make_split

DOMAINS = {"kitchen": "e-commerce", "footwear": "fashion"}


def embeddings_table(item_ids: list[str], dim: int = 8, seed: int = 0) -> pa.Table:
    vectors = np.random.default_rng(seed).normal(size=(len(item_ids), dim)).astype(np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.table({"item_id": pa.array(item_ids, pa.string()), "embedding": pa.FixedSizeListArray.from_arrays(flat, dim)})


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory) -> list[DatasetInputs]:
    """Two tiny demo domains with both splits saved and a random ``rand`` embedding."""
    root = tmp_path_factory.mktemp("bench_inputs")
    config = BenchmarkConfig(embeddings=[EmbeddingModel(name="rand")])
    out = []
    for name, scenario in DOMAINS.items():
        data = generate_domain(DemoDataConfig(size="tiny"), name)
        splits = {}
        for task, split_config in split_configs(config, name).items():
            splits[task] = str(root / name / task)
            save_split(make_split(data.interactions.to_pandas(), split_config, dataset=name), splits[task])
        path = str(root / name / "rand.parquet")
        pq.write_table(embeddings_table(data.items.column("item_id").to_pylist()), path)
        # trial specs name files by URI (gre_ray.bench.trial_spec): file:// for this machine's folders
        uris = {task: f"file://{folder}" for task, folder in splits.items()}
        out.append(DatasetInputs(name, scenario, uris, {"rand": f"file://{path}"}))
    return out
