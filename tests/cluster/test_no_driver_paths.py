"""What crosses a Ray boundary names things by URI, Hub id or shipped name; typed specs refuse driver paths."""

from __future__ import annotations

import pyarrow as pa
import pytest

from gre_ray.bench.trial_spec import checked
from gre_ray.data.shared import check_shared, model_name, shared_uri
from gre_ray.data.storage import Location
from gre_ray.errors import ConfigError
from gre_ray.train.config import ContrastiveConfig, MLMConfig
from gre_ray.train.tasks import ContrastiveTask, MLMTask
from gre_ray.train.worker_spec import WorkerSpec


@pytest.mark.parametrize("value", ["/tmp/gre-backbone-x", "runs/demo/contrastive/model", "~/models/m", "./m"])
def test_a_driver_path_is_refused_with_the_field_named(value):
    with pytest.raises(ConfigError, match=r"mlm\.model: .* is a path on the driver's machine"):
        check_shared(value, "mlm.model")


@pytest.mark.parametrize("value", ["s3://bucket/run/backbone?endpoint_override=127.0.0.1:9&scheme=http",
                                   "file:///shared/models/m", "sentence-transformers/all-MiniLM-L6-v2", "minilm", ""])
def test_uris_hub_ids_and_shipped_names_pass(value):
    assert check_shared(value, "mlm.model") == value


def test_a_folder_named_in_the_config_becomes_a_file_uri(tmp_path):
    assert model_name(str(tmp_path), "contrastive.model") == f"file://{tmp_path}"
    assert shared_uri(Location.of(tmp_path / "run")) == f"file://{tmp_path}/run"


def test_the_train_worker_spec_refuses_a_driver_path_for_any_model_of_the_task(tmp_path):
    heldout = pa.table({"text": ["a", "b"]})
    with pytest.raises(ConfigError, match=r"task\.model_path: '/tmp/gre-model-x' is a path on the driver"):
        WorkerSpec.of(task=MLMTask(MLMConfig(), "/tmp/gre-model-x"), heldout=heldout)
    with pytest.raises(ConfigError, match=r"task\.guide_path: .* is a path on the driver"):
        WorkerSpec.of(task=ContrastiveTask(ContrastiveConfig(), "minilm", str(tmp_path)), heldout=heldout)
    with pytest.raises(ConfigError, match=r"local_checkpoints: .* is a path on the driver"):
        WorkerSpec.of(task=MLMTask(MLMConfig(), "minilm"), local_checkpoints=str(tmp_path))
    with pytest.raises(ConfigError, match="unknown config key train worker spec.'heldot'"):
        WorkerSpec.of(task=MLMTask(MLMConfig(), "minilm"), heldot=heldout)
    spec = WorkerSpec.of(task=ContrastiveTask(ContrastiveConfig(), "s3://b/run/backbone", "org/guide"),
                         global_counts={"books": 3}, steps_per_epoch=2, heldout=heldout,
                         local_checkpoints=shared_uri(Location.of(tmp_path)))
    with pytest.raises(AttributeError):  # frozen: what the driver checked is what the workers get
        spec.steps_per_epoch = 3


def trial(**changes):
    base = {"name": "kitchen-sasrec-gre-add-s0", "dataset": "kitchen", "scenario": "e-commerce", "model": "sasrec",
            "task": "retrieval", "embedding": "gre", "fusion": "add", "seed": 0, "lr": 0.003, "dim": 16,
            "split_path": "s3://b/run/cache/splits/k1", "embedding_path": "file:///shared/run/cache/embeddings/k2",
            "missing_text": "zero", "text_reduce": "none", "model_params": {"dim": 16}, "train": {"lr": 0.003},
            "protocol": {"ranking": "full"}, "key": "abc", "store": "s3://b/run/results"}
    return {**base, **changes}


def test_the_tune_trial_spec_is_typed_and_refuses_driver_paths():
    assert checked(trial())["split_path"] == "s3://b/run/cache/splits/k1"
    with pytest.raises(ConfigError, match=r"split_path '/tmp/run/cache/splits/k1' is not a URI"):
        checked(trial(split_path="/tmp/run/cache/splits/k1"))
    with pytest.raises(ConfigError, match="embedding_path 'runs/x/emb' is not a URI"):
        checked(trial(embedding_path="runs/x/emb"))
    with pytest.raises(ConfigError, match="unknown config key .*'sede'"):
        checked(trial(sede=1))
    with pytest.raises(ConfigError, match=r"\.seed: expected an integer"):
        checked(trial(seed="zero"))


def test_a_job_upload_leaves_out_data_and_runs_but_not_the_code():
    """``ray job submit --working-dir .`` skips the runtime env's excludes (matched as Ray
    matches them) and what git ignores; raw data and run folders are in both, code in neither."""
    import subprocess
    from pathlib import Path

    import yaml
    from ray._private.runtime_env.packaging import _get_excludes

    root = Path(__file__).parents[2]
    excluded = _get_excludes(root, yaml.safe_load((root / "jobs" / "runtime_env.yaml").read_text())["excludes"])
    for path in ("data/raw/amazon/reviews.jsonl.gz", "runs/demo/embed/manifest.json"):
        assert excluded(root / path), path
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=root).returncode == 0, path
    for path in ("gre_ray/data/storage.py", "configs/demo.yaml", "jobs/pipeline.py"):
        assert not excluded(root / path), path
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=root).returncode == 1, path


def test_ingest_reads_its_raw_files_from_a_uri_data_root(ray_session, s3_root, tmp_path):
    """``ingest.data_root`` on an S3 server gives the same items and interactions as the same
    files on a local disk."""
    import json

    import pyarrow.fs as pafs

    from gre_ray.data.storage import read_table
    from gre_ray.pipeline import run_config
    from gre_ray.root_config import load_config
    from tests.ingest.conftest import write_amazon2023, write_yelp

    (tmp_path / "raw").mkdir()
    sources = [write_yelp(tmp_path / "raw"), write_amazon2023(tmp_path / "raw")]
    raw = Location.of(s3_root.replace("runs/x", "raw"))
    pafs.copy_files(str(tmp_path / "raw"), raw.path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=raw.fs)
    tables = {}
    for where, data_root in (("local", str(tmp_path / "raw")), ("s3", raw.uri)):
        root = tmp_path / f"run-{where}"
        (outcome,) = run_config(load_config(None, ["run.stages=[ingest]", f"run.root={root}",
                                                   f"ingest.data_root={data_root}",
                                                   f"ingest.sources={json.dumps(sources)}"]))
        assert outcome.status == "ran"
        tables[where] = {a: sorted(map(str, read_table(Location.of(root / "ingest" / a)).to_pylist()))
                         for a in ("items", "interactions")}
    assert tables["s3"] == tables["local"] and tables["local"]["interactions"]
