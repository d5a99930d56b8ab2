"""Seal Ray Tune's experiment state so that a restore never unpickles files someone else wrote.

``Tuner.restore`` unpickles the experiment state (``tuner.pkl``, the trials inside
``experiment_state-*.json``, each trial's ``params.pkl``) from the experiment folder under
``run.root``. Anyone who can write to a shared bucket or NFS run root could plant a pickle
there and run code on the cluster. So when an experiment stops (finished or interrupted by
Ctrl+C / ``ray job stop``) the driver writes an HMAC-SHA256 over every file of the
experiment folder, keyed by a secret that never lives in the run root: a 32-byte key file in
the driver user's home (``~/.config/gre_ray/tune-state.key``, created 0600 on first use;
``GRE_RAY_STATE_KEY_FILE`` points elsewhere). A restore first recomputes the HMAC; state that
is unsealed (a hard-killed driver never sealed it), changed after sealing, or sealed with
another key is not restored: the grid starts afresh, and the benchmark's results store
(Parquet, data only) still supplies every trial that had finished.

The seal file itself may be rewritten by an attacker, but without the key they cannot
produce a matching HMAC (RFC 2104).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import posixpath
import secrets
from pathlib import Path

from gre_ray.data.storage import Location

log = logging.getLogger("gre_ray")

KEY_ENV = "GRE_RAY_STATE_KEY_FILE"
SEAL_SUFFIX = ".gre-seal"


def key_file() -> Path:
    """Where the driver's secret key lives (never under the run root)."""
    return Path(os.environ.get(KEY_ENV) or Path.home() / ".config" / "gre_ray" / "tune-state.key")


def _key() -> bytes:
    """The driver's 32-byte key, created with mode 0600 when missing."""
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _seal_location(experiment: Location) -> Location:
    return experiment.parent / (experiment.name + SEAL_SUFFIX)


def state_digest(experiment: Location, key: bytes) -> str:
    """HMAC-SHA256 over the relative path, size and bytes of every file of ``experiment``."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for info in experiment.files():
        rel = posixpath.relpath(info.path, experiment.path)
        mac.update(f"{rel}\0{info.size}\0".encode())
        with experiment.fs.open_input_stream(info.path) as stream:
            while chunk := stream.read(1 << 22):
                mac.update(chunk)
    return mac.hexdigest()


def seal(experiment: Location) -> None:
    """Record the HMAC of the experiment's files beside the folder."""
    if experiment.is_dir():
        _seal_location(experiment).write_text(state_digest(experiment, _key()))


def is_sealed(experiment: Location) -> bool:
    """True when the experiment's files are exactly those this driver's key sealed."""
    seal_loc = _seal_location(experiment)
    if not seal_loc.exists():
        return False
    expected = seal_loc.read_text().strip()
    return hmac.compare_digest(expected, state_digest(experiment, _key()))
