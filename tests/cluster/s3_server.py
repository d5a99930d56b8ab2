"""A real S3-compatible server for tests: moto's server mode on a free port of 127.0.0.1.

Used by the run-lease tests and the private-node cluster test (fixtures in
``tests/cluster/conftest.py``). Credentials are dummies that moto accepts; the AWS config
and credential files are pointed at a missing file so nothing of the user's is read.
"""

from __future__ import annotations

import logging
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_env(scratch: Path) -> dict[str, str]:
    """The environment a client of the test server needs (dummy keys, no user AWS files)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "none"),
        "AWS_CONFIG_FILE": str(scratch / "none"),
    }


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server on 127.0.0.1; yields its ``host:port``."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str, prefix: str = "runs/x") -> str:
    """Create a fresh bucket; return the URI of ``prefix`` in it, with the endpoint's options."""
    import boto3

    bucket = f"gre-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/{prefix}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
