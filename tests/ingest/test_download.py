"""``gre-ray datasets download`` against a real HTTP server on 127.0.0.1 serving fixture files."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests import loopback
from tests.ingest.conftest import write_ninerec
from gre_ray.cli import main
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.local import ingest_locally
from gre_ray.ingest.registry import DownloadFile, load_registry
from gre_ray.ingest.registry.download import DownloadError, download_entries, fetch


class Files(BaseHTTPRequestHandler):
    """Serves ``server.files`` with HTTP Range support; ``server.cut`` bytes cut the next response short."""

    def begin(self) -> tuple[str, bytes] | None:
        """Record the request and send the headers; the file's name and the bytes from the
        requested offset (None: no such file, 404 sent)."""
        name = self.path.lstrip("/")
        body = self.server.files.get(name)
        self.server.requests.append((self.path, self.headers.get("Range")))
        if body is None:
            self.send_error(404)
            return None
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        return name, body[start:]

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        begun = self.begin()
        if begun is None:
            return
        payload = begun[1]
        if self.server.cut:
            payload, self.server.cut = payload[: self.server.cut], 0
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = loopback.start(Files)
    httpd.files, httpd.requests, httpd.cut = {}, [], 0
    yield httpd
    loopback.stop(httpd)


def _url(server, name: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{name}"


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    body = bytes(range(256)) * 4000  # 1 MB
    server.files["big.bin"] = body
    spec = DownloadFile("big.bin", _url(server, "big.bin"), size=len(body), sha256=hashlib.sha256(body).hexdigest())
    dest = tmp_path / "Arts" / "big.bin"
    server.cut = 300_000
    with pytest.raises(DownloadError, match=r"big.bin: download (cut short|interrupted) at 300,000 .*run again to resume"):
        fetch(spec, dest, stream=io.StringIO())
    assert not dest.exists() and (tmp_path / "Arts" / "big.bin.part").stat().st_size == 300_000
    progress = io.StringIO()
    assert fetch(spec, dest, stream=progress) == "downloaded"
    assert dest.read_bytes() == body
    assert server.requests[-1] == ("/big.bin", "bytes=300000-")
    assert "big.bin: 1.0 MB / 1.0 MB (100%)" in progress.getvalue()
    n = len(server.requests)
    assert fetch(spec, dest, stream=io.StringIO()) == "present" and len(server.requests) == n  # complete: skipped


def test_a_corrupted_download_is_caught_by_its_hash_and_removed(server, tmp_path):
    good = b"user,item\n" * 1000
    server.files["f.csv"] = good[:-5] + b"XXXXX"
    spec = DownloadFile("f.csv", _url(server, "f.csv"), sha256=hashlib.sha256(good).hexdigest())
    with pytest.raises(DownloadError, match=r"f.csv: sha256 [0-9a-f]{64} does not match the registry's " + spec.sha256):
        fetch(spec, tmp_path / "f.csv", stream=io.StringIO())
    assert not (tmp_path / "f.csv").exists() and not (tmp_path / "f.csv.part").exists()
    server.files["f.csv"] = good
    assert fetch(spec, tmp_path / "f.csv", stream=io.StringIO()) == "downloaded"
    with pytest.raises(DownloadError, match=r"g.csv: .* answered HTTP 404"):
        fetch(DownloadFile("g.csv", _url(server, "g.csv")), tmp_path / "g.csv", stream=io.StringIO())


def test_download_command_fetches_ninerec_then_ingests_with_nothing_quarantined(server, tmp_path, capsys):
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    write_ninerec(fixtures)
    for path in fixtures.iterdir():
        server.files[path.name] = path.read_bytes()
    registry = tmp_path / "reg.yaml"
    registry.write_text(
        "datasets:\n  Food:\n    scenario: video\n    role: benchmark\n    adapter: ninerec\n    homepage: https://x\n"
        "    folder: Bili_Food\n    interactions: [Bili_Food_pair.csv]\n    items: [Bili_Food_item.csv]\n"
        "    table1: {users: 2, items: 2, interactions: 4}\n    downloads:\n"
        f"      - {{file: Bili_Food_pair.csv, url: '{_url(server, 'Bili_Food_pair.csv')}'}}\n"
        f"      - {{file: Bili_Food_item.csv, url: '{_url(server, 'Bili_Food_item.csv')}'}}\n"
        "  Yelp:\n    scenario: catering\n    role: benchmark\n    adapter: yelp\n    homepage: https://www.yelp.com/dataset\n"
        "    interactions: [r.json]\n    manual: accept the licence at https://www.yelp.com/dataset and put r.json under\n"
    )
    raw = tmp_path / "raw"
    assert main(["datasets", "download", "Food", "Yelp", "--to", str(raw), "--registry", str(registry)]) == 0
    out = capsys.readouterr().out
    assert "Food: Bili_Food_pair.csv downloaded" in out
    assert f"by hand: Yelp: accept the licence at https://www.yelp.com/dataset and put r.json under {raw}/Yelp/" in out
    assert (raw / "Bili_Food" / "Bili_Food_pair.csv").read_bytes() == (fixtures / "Bili_Food_pair.csv").read_bytes()
    config = IngestConfig(data_root=str(raw), datasets=["Food"], registry=str(registry), token_tokenizer="")
    result = ingest_locally(config, str(tmp_path / "out"))["Food"]
    assert sum(result.quarantined.values()) == 0 and result.stats["published"]["within"]
    n = len(server.requests)
    assert main(["datasets", "download", "--all", "--to", str(raw), "--registry", str(registry)]) == 0
    assert "Food: Bili_Food_item.csv present" in capsys.readouterr().out and len(server.requests) == n


@pytest.mark.skipif(importlib.util.find_spec("gdown") is not None, reason="gdown is installed: it would fetch from Drive")
def test_google_drive_without_gdown_says_where_to_fetch_by_hand(tmp_path):
    entry = load_registry()["Cartoon"]
    (line,) = download_entries([entry], tmp_path, log=lambda _: None)
    assert line.startswith("Cartoon: NineRec.zip is on Google Drive: install gdown (pip install gdown)")
    assert f"save it as {Path(tmp_path) / '_archives' / 'NineRec.zip'}" in line
