"""Fixtures of the cluster and storage tests: an S3-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.cluster.s3_server import moto_server, new_bucket, s3_env


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto) on a free port of 127.0.0.1 for the module's tests."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_root(s3_endpoint, tmp_path, monkeypatch) -> str:
    """A key prefix in a new bucket of the test server, with the client environment set."""
    for name, value in s3_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return new_bucket(s3_endpoint)
