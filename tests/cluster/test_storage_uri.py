"""The run folder on a filesystem URI: in-memory stores, ``file://``, and stores that cannot be reached.

Three stand-ins for a cloud bucket: pyarrow's own in-memory ``mock://`` filesystem, resolved
from a URI exactly as ``s3://`` is; an object store double (fsspec's memory filesystem that,
like S3 and GCS, refuses to rename a folder); and ``file://``. The runner runs the fake
stages of ``tests/foundation/runner_fakes.py`` on each.
"""

from __future__ import annotations

import socket
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from pyarrow.fs import FSSpecHandler, PyFileSystem

from gre_ray.cli import main as cli_main
from gre_ray.data.storage import Location, read_json, read_table, write_json, write_table
from gre_ray.errors import DataError
from gre_ray.runner.runner import TMP_DIR, run_pipeline
from tests.foundation.runner_fakes import REGISTRY, FakeConfig, RunSettings


def statuses(outcomes):
    return {o.name: o.status for o in outcomes}


class ObjectStoreHandler(FSSpecHandler):
    """fsspec's memory filesystem with S3's rule: a folder cannot be renamed. Records copies."""

    def __init__(self):
        class PrivateMemory(MemoryFileSystem):  # its own store: fsspec's is global to the process
            store: dict = {}
            pseudo_dirs: list = [""]
            cachable = False

        super().__init__(PrivateMemory())
        self.copies: list[str] = []

    def move(self, src, dest):
        if self.fs.isdir(src):
            raise OSError(f"cannot rename the folder {src}: object stores rename files only")
        super().move(src, dest)

    def copy_file(self, src, dest):
        self.copies.append(dest)
        super().copy_file(src, dest)


@pytest.fixture
def object_store(monkeypatch):
    """``store://...`` URIs resolve to one shared object store double for the test's duration."""
    handler = ObjectStoreHandler()
    fs = PyFileSystem(handler)
    real_of = Location.of

    def of(uri_or_path):
        text = str(uri_or_path)
        return Location(fs, "/" + text[len("store://") :]) if text.startswith("store://") else real_of(text)

    monkeypatch.setattr(Location, "of", staticmethod(of))
    return handler


def test_location_round_trips_on_the_mock_filesystem():
    loc = Location.of("mock:///bucket/run")
    assert not loc.is_local and loc.path == "bucket/run"
    assert loc.uri == "mock:///bucket/run" and Location.of(loc.uri).path == loc.path
    write_table(pa.table({"x": [1, 2, 3]}), loc / "stage" / "numbers")
    write_json(loc / "stage" / "manifest.json", {"status": "complete"})
    (loc / "stage").move_to(loc / "done")
    assert read_table(loc / "done" / "numbers").column("x").to_pylist() == [1, 2, 3]
    assert read_json(loc / "done" / "manifest.json") == {"status": "complete"}
    assert [c.name for c in loc.children()] == ["done"]


def test_runner_on_a_mock_uri_writes_and_reads_through_the_store():
    outcomes = run_pipeline(FakeConfig(RunSettings("mock:///bucket/run")), REGISTRY)
    assert statuses(outcomes) == {"source": "ran", "scale": "ran"}
    scale = outcomes[1]
    assert scale.folder == "mock:///bucket/run/scale"
    # scale read its input back from the mock store: 5 rows in, 2 odd ones quarantined
    assert scale.manifest["rows"] == {"in": 5, "out": 5, "quarantined": {"odd input": 2}, "quarantined_total": 2}
    assert any(f["path"].startswith("scaled/") for f in scale.manifest["files"])


def test_runner_on_an_object_store_copies_folders_with_the_manifest_last(object_store):
    first = run_pipeline(FakeConfig(RunSettings("store://runs/x")), REGISTRY)
    assert statuses(first) == {"source": "ran", "scale": "ran"}
    root = Location.of("store://runs/x")
    assert read_table(root / "scale" / "scaled").column("x").to_pylist() == [0, 2, 4, 6, 8]
    assert read_json(root / "scale" / "manifest.json")["status"] == "complete"
    assert not (root / TMP_DIR).children(), "no stage folder left behind in _tmp"
    for stage in ("source", "scale"):
        copied = [c for c in object_store.copies if f"/{stage}/" in c]
        assert copied and copied[-1].endswith(f"/{stage}/manifest.json"), copied

    again = run_pipeline(FakeConfig(RunSettings("store://runs/x")), REGISTRY)
    assert statuses(again) == {"source": "skipped", "scale": "skipped"}
    assert [o.fingerprint for o in again] == [o.fingerprint for o in first]


def test_file_uri_and_plain_path_are_the_same_folder(tmp_path):
    via_uri = Location.of(f"file://{tmp_path}/run")
    assert via_uri.is_local and via_uri.uri == str(tmp_path / "run")
    write_table(pa.table({"x": [7]}), via_uri / "numbers")
    assert read_table(Location.of(tmp_path / "run" / "numbers")).column("x").to_pylist() == [7]


def test_uri_keeps_the_store_options_for_ray_train_and_tune():
    query = "endpoint_override=minio.lan:9000&scheme=http"
    loc = Location(pafs.S3FileSystem(endpoint_override="minio.lan:9000", scheme="http"), "gre/runs", query)
    assert (loc / "mlm").uri == f"s3://gre/runs/mlm?{query}"
    assert (loc / "mlm").parent.uri == f"s3://gre/runs?{query}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_cloud_credentials(monkeypatch, tmp_path):
    """No AWS or Google credentials anywhere the SDKs look, and no metadata servers to ask."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "GOOGLE_APPLICATION_CREDENTIALS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_ROOT", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{closed_port()}")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://gre-ray-no-such-bucket-4f1c/runs/x",
        "s3://gre/runs/x?endpoint_override=127.0.0.1:{port}&scheme=http",
        "gs://gre-ray-no-such-bucket-4f1c/runs/x",
    ],
    ids=["s3", "s3-endpoint", "gcs"],
)
def test_store_without_credentials_is_one_quick_line(uri, no_cloud_credentials):
    uri = uri.format(port=closed_port())
    started = time.monotonic()
    with pytest.raises(DataError) as error:
        Location.of(uri)
    # A bound, not a benchmark: without the probe's short timeouts GCS retries for 15 minutes.
    assert time.monotonic() - started < 60
    message = str(error.value)
    assert "\n" not in message and len(message) < 700
    assert uri.split("?")[0] in message and "credentials" in message


def test_cli_reports_an_unreachable_run_root_in_one_line(no_cloud_credentials, capsys):
    root = f"s3://gre/runs/x?endpoint_override=127.0.0.1:{closed_port()}&scheme=http"
    code = cli_main(["run", "configs/demo.smoke.yaml", "--set", f"run.root={root}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("gre-ray: error: cannot reach storage 's3://gre/runs/x?") and err.count("\n") == 1
