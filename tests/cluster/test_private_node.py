"""The whole smoke pipeline on a worker node that cannot see the driver's files, run root on S3.

The cluster is :func:`tests.cluster.private_node.private_worker_cluster`: every task that
needs a CPU runs on a node with its own empty ``/tmp`` and its own Hub and model caches.
The run root is a bucket of a moto server on 127.0.0.1. The pipeline is the demo smoke
config with ``mlm`` on (so ``contrastive`` fine-tunes the ``backbone`` stored in the
bucket), ``mlm.model`` named by a Hub id (each node resolves it in its own Hub cache), and
a benchmark whose embeddings are that Hub id and the trained ``artifact: model``. Every
output must equal a local run's (one machine, local run folder, local Ray).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow.compute as pc
import pytest

from gre_ray.bench.results import read_results
from gre_ray.data.storage import Location, read_json, read_table
from tests.cluster.private_node import HUB_ID, RESOURCE, private_worker_cluster, run_pipeline_process, seed_hub_cache

OVERRIDES = [
    "run.stages=[demo_data, embed, coreset, mlm, pairs, contrastive, benchmark]",
    f"mlm.model={HUB_ID}",
    f"benchmark.embeddings=[{{name: minilm, encoder: {{model: {HUB_ID}}}}}, {{name: gre, artifact: model}}]",
]
TABLES = {"demo_data": ["items", "interactions"], "coreset": ["corpus"], "pairs": ["pairs"]}


def sorted_table(loc: Location):
    table = read_table(loc)
    keys = [c for c in ("domain", "user_id", "item_id", "item_a", "item_b", "timestamp") if c in table.column_names]
    return table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]))


def weights(loc: Location) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    with loc.fs.open_input_stream((loc / "model.safetensors").path) as stream:
        return load(stream.read())


def vectors(loc: Location) -> dict[str, np.ndarray]:
    table = read_table(loc)
    return dict(zip(table.column("item_id").to_pylist(), np.asarray(table.column("embedding").to_pylist())))


@pytest.mark.slow
def test_smoke_pipeline_on_a_private_worker_node_with_the_run_on_s3_equals_a_local_run(s3_root, tmp_path):
    with private_worker_cluster(num_cpus=2) as cluster:
        done = run_pipeline_process(
            "configs/demo.smoke.yaml", [*OVERRIDES, f"run.root={s3_root}", f"run.ray_address={cluster.head.gcs}"],
            cluster.driver_env, tmp_path / "cluster.log")
        log = (tmp_path / "cluster.log").read_text()
        assert done.returncode == 0, log[-8000:]
        status = cluster.head.ray("status", f"--address={cluster.head.gcs}").stdout

    local_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the reference: one machine
    for key, sub in (("HF_HOME", "hf"), ("GRE_RAY_MODEL_CACHE", "models")):
        (tmp_path / "local-caches" / sub).mkdir(parents=True)
        local_env[key] = str(tmp_path / "local-caches" / sub)
    seed_hub_cache(tmp_path / "local-caches" / "hf")
    local_root = tmp_path / "local-run"
    done = run_pipeline_process("configs/demo.smoke.yaml", [*OVERRIDES, f"run.root={local_root}"], local_env,
                                tmp_path / "local.log")
    assert done.returncode == 0, (tmp_path / "local.log").read_text()[-5000:]

    assert f"/1000.0 {RESOURCE}" in status
    local, remote = Location.of(local_root), Location.of(s3_root)
    for stage, names in TABLES.items():
        for name in names:
            assert sorted_table(remote / stage / name).equals(sorted_table(local / stage / name)), f"{stage}/{name}"
    mine, theirs = vectors(remote / "embed" / "embeddings"), vectors(local / "embed" / "embeddings")
    assert mine.keys() == theirs.keys()
    assert all(np.allclose(mine[k], theirs[k], atol=1e-5) for k in mine)
    for stage, artifact in (("mlm", "backbone"), ("contrastive", "model")):
        a, b = weights(remote / stage / artifact), weights(local / stage / artifact)
        assert a.keys() == b.keys()
        differ = {k: float(np.abs(a[k] - b[k]).max()) for k in a if not np.allclose(a[k], b[k], rtol=0, atol=1e-6)}
        assert not differ, (stage, differ)  # the training split is ordered: the same rows on the same worker
        ours, reference = read_json(remote / stage / "manifest.json"), read_json(local / stage / "manifest.json")
        assert ours["rows"] == reference["rows"] and ours["settings"] == reference["settings"]
        for key in ("training_rows", "heldout_rows", "steps_per_epoch", "rows_per_domain"):
            assert ours["stats"][key] == reference["stats"][key], (stage, key)
        assert len(set(ours["stats"]["worker_nodes"])) == 1  # both training workers on the private node
    # Same base model, same held-out rows: the loss before training matches to the last digit.
    assert read_json(remote / "mlm" / "manifest.json")["stats"]["initial_metrics"] == \
        read_json(local / "mlm" / "manifest.json")["stats"]["initial_metrics"]

    results, _ = read_results(remote.uri)
    reference, _ = read_results(str(local_root))
    assert (results["status"] == "ok").all() and sorted(set(results["trial"])) == sorted(set(reference["trial"]))
    assert set(results["embedding"]) == {"id", "minilm", "gre"}
    # Every trial, GRE's included (its model equals the local one), gives the same test metrics.
    keys = ["trial", "metric"]
    mine, theirs = results.sort_values(keys), reference.sort_values(keys)
    assert mine[keys].values.tolist() == theirs[keys].values.tolist() and len(mine)
    assert np.allclose(mine["value"].to_numpy(float), theirs["value"].to_numpy(float), atol=1e-6, equal_nan=True)
    assert (mine["split_fingerprint"].values == theirs["split_fingerprint"].values).all()
