"""``gre-ray datasets download --to s3://...`` interrupted by SIGINT resumes: the files are staged in a
persistent cache, each dataset is uploaded when complete, and the rerun fetches only what was
missing (the partial file with an HTTP Range request). Both servers run on 127.0.0.1: a file
server standing in for the publishers' hosts and moto's S3-compatible server."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gre_ray.data.storage import Location
from gre_ray.ingest.registry import load_registry
from gre_ray.ingest.registry.download import select
from tests import loopback
from tests.cluster.s3_server import moto_server, new_bucket, s3_env
from tests.ingest.test_download import Files

REPO = Path(__file__).parents[2]
SMALL = b"u1,v1\n" * 20_000            # 120 kB: dataset A's file, complete before the interrupt
BIG = bytes(range(256)) * 4_096       # 1 MB: dataset B's file, interrupted half-way
HALF = len(BIG) // 2


class Gated(Files):
    """Serves ``server.files`` with Range support; the first full request of ``big.bin`` sends half
    the file, then waits for ``server.gate`` (the test interrupts the client meanwhile)."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        begun = self.begin()
        if begun is None:
            return
        name, payload = begun
        try:
            if name == "big.bin" and len(payload) == len(BIG) and not self.server.gate.is_set():
                self.wfile.write(payload[:HALF])
                self.wfile.flush()
                self.server.gate.wait(60)
                return
            self.wfile.write(payload)
        except OSError:
            pass  # the interrupted client went away


@pytest.fixture
def files():
    httpd = loopback.start(Gated)
    httpd.files, httpd.requests, httpd.gate = {"a.csv": SMALL, "big.bin": BIG}, [], threading.Event()
    yield httpd
    httpd.gate.set()
    loopback.stop(httpd)


def _registry(path: Path, port: int) -> Path:
    url = f"http://127.0.0.1:{port}"
    entry = ("  {name}:\n    scenario: video\n    role: {role}\n    adapter: ninerec\n    homepage: https://x\n"
             "    interactions: [{file}]\n    downloads:\n      - {{file: {file}, url: '{url}/{file}'}}\n")
    path.write_text("datasets:\n" + entry.format(name="A", role="benchmark", file="a.csv", url=url)
                    + entry.format(name="B", role="benchmark", file="big.bin", url=url)
                    + entry.format(name="T", role="train", file="t.csv", url=url))
    return path


def _read(loc: Location) -> bytes:
    with loc.fs.open_input_stream(loc.path) as stream:
        return stream.read()


def _download(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gre_ray.cli", "datasets", "download", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_interrupted_download_to_s3_resumes_and_fetches_only_what_was_missing(files, tmp_path, monkeypatch):
    for key, value in s3_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    registry = _registry(tmp_path / "reg.yaml", files.server_address[1])
    cache = tmp_path / "cache"
    env = {**os.environ, **s3_env(tmp_path), "PYTHONPATH": str(REPO)}
    with moto_server() as endpoint:
        to = new_bucket(endpoint, "raw")
        args = ["--role", "benchmark", "--to", to, "--registry", str(registry), "--cache", str(cache)]
        proc = _download(args, env)
        part = cache / "B" / "big.bin.part"
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size == HALF):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the second file never got half-way"
            time.sleep(0.05)
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        out, err = proc.communicate(timeout=60)
        files.gate.set()

        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == (
            f"gre-ray: interrupted by SIGINT; kept: every dataset uploaded so far to {to}, the downloaded and "
            f"partial files in {cache}; to resume, run again: gre-ray {shlex.join(['datasets', 'download', *args])}")
        target = Location.of(to)
        assert _read(target / "A" / "a.csv") == SMALL, "dataset A is uploaded as soon as it is complete"
        assert not (target / "B" / "big.bin").exists()
        assert ("/t.csv", None) not in files.requests, "--role benchmark leaves the training domains out"

        before = len(files.requests)
        proc = _download(args, env)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert files.requests[before:] == [("/big.bin", f"bytes={HALF}-")], "only the missing half is fetched"
        assert _read(target / "B" / "big.bin") == BIG
        assert "2 dataset(s) under" in out

        before = len(files.requests)
        proc = _download([*args[:-1], str(tmp_path / "empty-cache")], env)  # another machine: an empty cache
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert files.requests[before:] == [] and out.count("present at the destination") == 2


def test_role_selects_gre_b_or_the_training_domains():
    registry = load_registry()
    bench = select(registry, [], None, False, "benchmark")
    train = select(registry, [], None, False, "train")
    assert len(bench) == 26 and {e.role.value for e in bench} == {"benchmark"}
    assert len(train) == 12 and {e.role.value for e in train} == {"train"}
    video = select(registry, [], "video", False, "benchmark")
    assert len(video) == 9 and all(e.scenario.value == "video" for e in video)
    assert len(select(registry, [], None, True)) == 38
