"""The node-local model cache against a real S3-compatible server: one download per node, keyed by content."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from gre_ray.data.storage import Location
from gre_ray.embed.model_folder import resolve_model_dir
from gre_ray.embed.node_cache import CACHE_ENV, LOG, fetch_model
from gre_ray.errors import ConfigError


def upload(folder: Path, uri: str) -> None:
    dest = Location.of(uri)
    pafs.copy_files(str(folder), dest.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=dest.fs)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A small folder shaped like a model (config, weights bytes, a sub-folder)."""
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (folder / "1_Pooling" / "config.json").write_text("{}")
    return folder


def downloads(root: Path) -> list[str]:
    log = root / LOG
    return log.read_text().splitlines() if log.exists() else []


def test_a_stored_model_is_downloaded_once_per_node_even_by_two_workers_at_once(s3_root, model_folder, tmp_path):
    uri = s3_root.replace("runs/x", "runs/x/contrastive/model")
    upload(model_folder, uri)
    root = tmp_path / "node-cache"
    with ThreadPoolExecutor(2) as pool:  # two training workers of one node starting together
        first, second = pool.map(lambda _: fetch_model(uri, root), range(2))
    assert first == second and first.parent == root
    (first / "marker").write_text("still the same copy")
    assert fetch_model(uri, root) == first and (first / "marker").exists()
    assert len(downloads(root)) == 1
    assert (first / "model.safetensors").read_bytes() == (model_folder / "model.safetensors").read_bytes()


def test_the_cache_is_keyed_by_content_not_by_name(s3_root, model_folder, tmp_path):
    root = tmp_path / "node-cache"
    a, b = s3_root.replace("runs/x", "a/model"), s3_root.replace("runs/x", "b/model")
    upload(model_folder, a)
    upload(model_folder, b)
    assert fetch_model(a, root) == fetch_model(b, root)  # same bytes under two names: one folder
    (model_folder / "model.safetensors").write_bytes(b"new checkpoint")
    upload(model_folder, a)  # a new checkpoint saved under the old name
    changed = fetch_model(a, root)
    assert changed != fetch_model(b, root)
    assert (changed / "model.safetensors").read_bytes() == b"new checkpoint"
    assert len(downloads(root)) == 3


def test_model_names_that_are_uris_resolve_through_the_node_cache(s3_root, model_folder, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "node-cache"))
    uri = s3_root.replace("runs/x", "m")
    upload(model_folder, uri)
    folder = resolve_model_dir(uri)
    assert folder.parent == tmp_path / "node-cache" and (folder / "config.json").is_file()
    assert resolve_model_dir(f"file://{model_folder}") == model_folder  # a folder every node sees: not copied
    with pytest.raises(ConfigError, match="no files there"):
        fetch_model(s3_root.replace("runs/x", "nothing-here"), tmp_path / "node-cache")
