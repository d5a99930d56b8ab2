"""An OpenAI-compatible ``/v1/embeddings`` endpoint, served by a small real HTTP server on
127.0.0.1 that embeds with MiniLM: its vectors equal the encoder's; failures are retried
with backoff, then reported in one line."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from gre_ray.embed.config import EndpointConfig
from tests import loopback
from gre_ray.embed.endpoint import embed_texts
from gre_ray.errors import DataError
from tests.embed.conftest import mixed_texts


class Server:
    """``POST /v1/embeddings`` with MiniLM; the first ``fail_first`` requests answer HTTP 503."""

    def __init__(self, encoder, fail_first: int = 0) -> None:
        self.requests, self.fail_first = 0, fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                outer.requests += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.requests <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                vectors = encoder.encode(body["input"])
                answer = {"object": "list", "model": body["model"],
                          "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                                   for i, v in reversed(list(enumerate(vectors)))]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = loopback.start(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        loopback.stop(self.httpd)


@pytest.fixture
def server(minilm_encoder):
    made = []

    def start(fail_first: int = 0) -> Server:
        made.append(Server(minilm_encoder, fail_first))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_endpoint_vectors_equal_the_encoders_in_input_order(server, minilm_encoder):
    texts = [t for t in mixed_texts(10, seed=5, max_words=20) if t.strip()]
    srv = server()
    got = embed_texts(EndpointConfig(url=srv.url, model="minilm", batch_size=3), texts)
    np.testing.assert_allclose(got, minilm_encoder.encode(texts), atol=1e-5)
    assert srv.requests == -(-len(texts) // 3)
    short = embed_texts(EndpointConfig(url=srv.url, model="minilm"), texts, dim=32)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_a_failing_endpoint_is_retried_with_backoff_then_reported_in_one_line(server):
    srv = server(fail_first=2)
    config = EndpointConfig(url=srv.url, model="minilm", retries=2, backoff_s=0.01)
    assert embed_texts(config, ["warm tent"]).shape == (1, 384) and srv.requests == 3
    down = server(fail_first=100)
    with pytest.raises(DataError, match=r"endpoint http://127.0.0.1:\d+/v1 \(model minilm\), texts 0-0: failed "
                                        r"after 3 attempt\(s\): HTTP 503"):
        embed_texts(EndpointConfig(url=down.url, model="minilm", retries=2, backoff_s=0.01), ["warm tent"])
    assert down.requests == 3


def test_endpoint_vectors_are_cached_by_content(server, tmp_path):
    """The bench's endpoint source: vectors land in the embedding cache under a key of the
    endpoint, model, prompt and texts; asking again sends no request."""
    import pyarrow as pa

    from gre_ray.bench.config import EmbeddingModel
    from gre_ray.data.storage import Location
    from gre_ray.embed.vectors import read_embeddings
    from gre_ray.stages.bench_embeddings import _embed_one

    srv = server()
    model = EmbeddingModel(name="api", endpoint=EndpointConfig(url=srv.url, model="minilm"))
    rows = pa.table({"item_id": ["i1", "i2"], "text": ["warm tent", "espresso grinder"]})
    cache = Location.of(tmp_path / "cache")
    first = _embed_one(model, model.encoder, rows, "shop", cache, None, lambda: None)
    asked = srv.requests
    again = _embed_one(model, model.encoder, rows, "shop", cache, None, lambda: None)
    assert again == first and srv.requests == asked == 1
    ids, vectors = read_embeddings(Location.of(first.uri))
    assert list(ids) == ["i1", "i2"] and vectors.shape == (2, 384)
    other = _embed_one(model, model.encoder, rows.set_column(1, "text", pa.array(["tent", "grinder"])), "shop",
                       cache, None, lambda: None)
    assert other.fingerprint != first.fingerprint
