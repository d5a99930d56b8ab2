"""The endpoint as ``gre-ray bench`` calls it: batches in flight at once (never more than
``concurrency``), the API key from the environment only, a placeholder for items without
text, 429 retried after the server's Retry-After, 401 one line with the status and model."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from gre_ray.embed.config import EndpointConfig
from tests import loopback
from gre_ray.embed.endpoint import PLACEHOLDER, embed_texts, endpoint_fingerprint
from gre_ray.errors import DataError

SECRET = "sk-test-never-printed"


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b - 128.0 for b in digest[:4]]


class FakeServer:
    """Answers ``POST /v1/embeddings`` with hash vectors; records inputs, auth headers and how
    many requests were in flight at once. ``answers`` is a list of status codes for the first
    requests (then 200); ``meet`` requests wait for each other before answering."""

    def __init__(self, answers: list[int] | None = None, meet: int = 0) -> None:
        self.inputs: list[str] = []
        self.auth: list[str | None] = []
        self.in_flight = self.most_in_flight = self.served = 0
        self.meet = meet
        self.answers = list(answers or [])
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(meet, timeout=10) if meet else None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.auth.append(self.headers.get("Authorization"))
                    status = outer.answers.pop(0) if outer.answers else 200
                    outer.in_flight += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                    outer.served += 1
                    barrier = outer.barrier if outer.served <= outer.meet else None
                try:
                    if status != 200:
                        self.send_response(status)
                        self.send_header("Retry-After", "0")
                        self.end_headers()
                        return
                    if barrier is not None:
                        barrier.wait()  # a client sending one request at a time never gets past this
                    with outer.lock:
                        outer.inputs += body["input"]
                    data = json.dumps({"data": [{"index": i, "embedding": _vector(t)}
                                                for i, t in enumerate(body["input"])]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

            def log_message(self, *args):
                pass

        self.httpd = loopback.start(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        loopback.stop(self.httpd)


@pytest.fixture
def fake():
    made = []

    def start(**kwargs) -> FakeServer:
        made.append(FakeServer(**kwargs))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_batches_run_concurrently_in_order_with_a_placeholder_for_empty_texts(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    srv = fake(meet=3)  # the first three requests answer only once all three are in flight
    texts = [f"item {i}" for i in range(9)] + ["", "   "]
    config = EndpointConfig(url=srv.url, model="m", batch_size=2, concurrency=3)
    got = embed_texts(config, texts, normalize=False)
    want = np.array([_vector(t) for t in texts[:9]] + [_vector(PLACEHOLDER)] * 2, np.float32)
    np.testing.assert_array_equal(got, want)  # in input order
    assert 2 <= srv.most_in_flight <= 3 and "" not in srv.inputs and "   " not in srv.inputs
    assert srv.inputs.count(PLACEHOLDER) == 2 and set(srv.auth) == {None}


def test_the_key_comes_from_the_environment_only(fake, monkeypatch):
    srv = fake()
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    embed_texts(EndpointConfig(url=srv.url, model="m"), ["a"])
    monkeypatch.setenv("MY_KEY", "sk-other")
    embed_texts(EndpointConfig(url=srv.url, model="m", api_key_env="MY_KEY"), ["a"])
    assert srv.auth == [f"Bearer {SECRET}", "Bearer sk-other"]
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(DataError, match=r"\(model m\): environment variable MY_KEY is not set$"):
        embed_texts(EndpointConfig(url=srv.url, model="m", api_key_env="MY_KEY"), ["a"])


def test_429_is_retried_and_401_is_one_line_with_the_status_and_the_model(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    busy = fake(answers=[429, 503])
    config = EndpointConfig(url=busy.url, model="org/e5", retries=2, backoff_s=0.0)
    assert embed_texts(config, ["a"]).shape == (1, 4) and len(busy.auth) == 3
    refused = fake(answers=[401] * 10)
    with pytest.raises(DataError) as caught:
        embed_texts(EndpointConfig(url=refused.url, model="org/e5", retries=3, backoff_s=0.0), ["a"])
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message and len(refused.auth) == 1  # not retried
    assert "(model org/e5)" in message and "HTTP 401" in message and "OPENAI_API_KEY" in message


def test_normalisation_enters_the_endpoints_key():
    config = EndpointConfig(url="http://127.0.0.1:9/v1", model="m")
    assert endpoint_fingerprint(config, "", None, "t", True) != endpoint_fingerprint(config, "", None, "t", False)
