"""A throwaway Ray head for end-to-end tests: started with ``ray start``, stopped by its own temp dir.

``ray stop`` kills every Ray process of the user by name, the test session's private Ray
and anyone else's included, so the head here is stopped another way: each of its daemons
carries the head's unique ``--temp-dir`` on its command line, and the workers, agents and job
drivers are their descendants.

The head runs with token authentication (``RAY_AUTH_MODE=token``), the mode the cluster
YAMLs use. Its token lives in a file inside the temp dir, named by ``RAY_AUTH_TOKEN_PATH``,
so ``~/.ray/auth_token`` (which belongs to the user and to other Ray sessions) is neither
read nor written, and HOME stays as it is for pip, Hugging Face and torch caches.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
ROOT = Path(__file__).parents[2]


@dataclass(frozen=True)
class Head:
    """A running head: its job server address and the environment of a client holding its token."""

    dashboard: str
    gcs: str
    env: dict[str, str]
    temp_dir: str

    def ray(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the ``ray`` CLI from the repository root (as a user would submit from a checkout)."""
        return subprocess.run(
            [RAY, *args], cwd=ROOT, env=env or self.env, capture_output=True, text=True, timeout=timeout
        )

    def job_status(self, job_id: str) -> str:
        """A job's status (``SUCCEEDED``, ``FAILED``, ...) from the job server's REST API."""
        token = Path(self.env["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
        request = urllib.request.Request(
            f"{self.dashboard}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["status"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def token_temp_dir(prefix: str) -> tuple[str, dict[str, str]]:
    """A fresh temp dir holding a private auth token, and a client environment that presents it."""
    temp_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Ray's socket paths live below it
    token = Path(temp_dir) / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return temp_dir, env


@contextmanager
def started_head(
    temp_dir: str, env: dict[str, str], ports: list[int], args: list[str], num_cpus: int,
    start_env: dict[str, str] | None = None,
) -> Iterator[Head]:
    """``ray start --head`` on the given (gcs, dashboard, agent, client) ports with ``args`` added;
    on exit stop exactly its processes and remove ``temp_dir``."""
    gcs, dashboard, agent, client = ports
    try:
        started = subprocess.run(
            [
                RAY, "start", "--head", *args, f"--port={gcs}",
                "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                f"--dashboard-agent-listen-port={agent}", f"--ray-client-server-port={client}",
                f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
            ],
            env=start_env or env, capture_output=True, text=True, timeout=180,
        )
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{started.stdout}\n{started.stderr}")
        yield Head(f"http://127.0.0.1:{dashboard}", f"127.0.0.1:{gcs}", env, temp_dir)
    finally:
        stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextmanager
def local_head(num_cpus: int = 2) -> Iterator[Head]:
    """Start a one-node Ray cluster on loopback with token auth; stop exactly its processes on exit."""
    temp_dir, env = token_temp_dir("gre-e2e-")
    with started_head(temp_dir, env, free_ports(4), ["--node-ip-address=127.0.0.1"], num_cpus) as head:
        yield head


def head_processes(temp_dir: str) -> list[psutil.Process]:
    """The head's daemons (their command lines name ``temp_dir``) and all their descendants."""
    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in proc.info["cmdline"] or ()):
            roots.append(proc)
    found = {p.pid: p for p in roots}
    for root in roots:
        try:
            found.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_head(temp_dir: str, grace_s: float = 10) -> None:
    """SIGTERM the head's processes, SIGKILL what is left after ``grace_s``."""
    procs = head_processes(temp_dir)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
