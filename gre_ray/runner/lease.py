"""The lease a run holds on its run folder, so two runs never clean or write one folder at once.

A run creates ``<run.root>/_lease.json`` (run id, user, host, pid, heartbeat) with a
create-if-absent write in the run folder's own storage (:mod:`gre_ray.data.conditional`:
``flock`` on a local disk, ``If-None-Match: *`` on S3) before it touches anything else,
renews it from a heartbeat thread with a replace-if-unchanged write, and deletes it when
it ends. A second run on the same folder either waits for the lease (``run.lease_wait_s``)
or stops with one line naming the holder.

A lease is *stale*, and is taken over with a warning, when its heartbeat is older than
``run.lease_stale_s`` (by this machine's clock, or unchanged for that long while this run
watched it, which does not trust the other machine's clock), or when its holder ran on
this host and its process is gone (a run killed with ``kill -9``). The takeover is itself
a replace-if-unchanged write, so of two runs taking over one stale lease only one wins.

A run whose heartbeat stalled long enough for another run to take over learns it on its
next renewal; :meth:`RunLease.confirm`, called before each stage output is moved into
place, then stops it before it writes anything a reader would trust.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from gre_ray.data import conditional
from gre_ray.data.storage import Location
from gre_ray.errors import UserError

log = logging.getLogger("gre_ray")

LEASE_FILE = "_lease.json"
POLL_S = 1.0


class LeaseHeld(UserError):
    """Another run holds the run folder's lease (and waiting for it was not allowed or timed out)."""


class LeaseLost(UserError):
    """This run's lease was taken over by another run after this run's heartbeat stalled."""


class RunLease:
    """The lease of one run on one run folder.

    Args:
        root: the run folder.
        wait_s: how long to wait for a lease another run holds (0: stop at once).
        stale_s: a heartbeat older than this marks the lease as abandoned.
        heartbeat_s: how often the lease is renewed (default: a quarter of ``stale_s``).
    """

    def __init__(self, root: Location, *, wait_s: float = 0.0, stale_s: float = 60.0, heartbeat_s: float | None = None) -> None:
        self.root = root
        self.loc = root / LEASE_FILE
        self.wait_s = wait_s
        self.stale_s = stale_s
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(stale_s / 4, 0.05)
        self.run_id = uuid.uuid4().hex[:12]
        self.took_over: dict[str, Any] | None = None
        self._tag: str | None = None
        self._seq = 0
        self._started = _now()
        self._lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public
    def acquire(self) -> "RunLease":
        """Take the lease, waiting up to ``wait_s`` for its holder, taking over a stale one.

        Raises:
            LeaseHeld: another run holds a live lease after ``wait_s`` seconds.
        """
        if not conditional.is_atomic(self.loc):
            log.warning(
                "run lease on %s: this store offers no conditional writes through pyarrow; two runs started "
                "within milliseconds of each other could both take the lease", self.root.uri,
            )
        deadline = time.monotonic() + self.wait_s
        first_seen: dict[str, float] = {}
        announced = False
        while True:
            tag = conditional.create(self.loc, self._record())
            if tag is not None:
                self._tag = tag
                break
            current = conditional.read(self.loc)
            if current is None:
                continue  # released between our create and read: try again
            holder = _parse(current.data)
            watched = time.monotonic() - first_seen.setdefault(current.tag, time.monotonic())
            reason = self._stale_reason(holder, watched)
            if reason:
                tag = conditional.replace(self.loc, self._record(), current.tag)
                if tag is not None:
                    self._tag, self.took_over = tag, holder
                    log.warning("run root %s: took over the lease of %s (%s)", self.root.uri, describe(holder), reason)
                    break
                continue
            if time.monotonic() >= deadline:
                raise LeaseHeld(
                    f"run root {self.root.uri} is in use by {describe(holder)}; wait for it to finish, "
                    f"use another run.root, or set run.lease_wait_s to wait for it"
                    + (f" (waited {self.wait_s:g}s)" if self.wait_s else "")
                )
            if not announced:
                log.info("run root %s is in use by %s; waiting up to %gs", self.root.uri, describe(holder), self.wait_s)
                announced = True
            time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0.01)))
        self._thread = threading.Thread(target=self._beat, name=f"gre-ray-lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def confirm(self) -> None:
        """Renew the lease now; raise when another run has taken it over.

        Raises:
            LeaseLost: the lease is no longer this run's.
        """
        with self._lock:
            if self._lost is None:
                self._renew()
            if self._lost is not None:
                raise LeaseLost(self._lost)

    def release(self) -> None:
        """Stop the heartbeat and delete the lease, if it is still this run's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._tag is not None and self._lost is None:
                try:
                    conditional.delete(self.loc, self._tag)
                except OSError as exc:  # an unreachable store: the lease goes stale on its own
                    log.warning("run root %s: could not delete the lease: %s", self.root.uri, exc)
            self._tag = None

    def __enter__(self) -> "RunLease":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # ------------------------------------------------------------------ internals
    def _record(self) -> bytes:
        self._seq += 1
        record = {
            "run_id": self.run_id,
            "user": _user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started,
            "heartbeat_at": _now(),
            "heartbeat_unix": time.time(),
            "seq": self._seq,
        }
        if self.took_over:
            record["took_over"] = self.took_over.get("run_id", "")
        return (json.dumps(record, sort_keys=True) + "\n").encode()

    def _stale_reason(self, holder: dict[str, Any], watched_s: float) -> str:
        """Why the lease ``holder`` wrote is abandoned, or "" while it is live."""
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
            return f"its process {holder['pid']} on this host has ended"
        age = time.time() - float(holder.get("heartbeat_unix") or 0.0)
        if age > self.stale_s:
            return f"no heartbeat for {age:.0f}s, more than run.lease_stale_s={self.stale_s:g}"
        if watched_s > self.stale_s:
            return f"its heartbeat did not change for {watched_s:.0f}s, more than run.lease_stale_s={self.stale_s:g}"
        return ""

    def _renew(self) -> None:
        """One conditional renewal (the caller holds ``_lock``); records a loss."""
        new = conditional.replace(self.loc, self._record(), self._tag or "")
        if new is not None:
            self._tag = new
            return
        current = conditional.read(self.loc)
        holder = _parse(current.data) if current is not None else {}
        self._lost = (
            f"run root {self.root.uri}: the lease of run {self.run_id} was taken over by {describe(holder)} "
            f"after its heartbeat stopped for more than run.lease_stale_s={self.stale_s:g}; this run stops "
            "without writing more"
        )
        log.error(self._lost)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                if self._lost is not None or self._tag is None:
                    return
                try:
                    self._renew()
                except OSError as exc:  # storage hiccup: try again at the next beat
                    log.warning("run root %s: lease heartbeat failed: %s", self.root.uri, exc)


def describe(holder: dict[str, Any]) -> str:
    """``run <id> (user@host, pid N, heartbeat Ts ago)`` for messages."""
    if not holder:
        return "an unreadable lease file"
    age = time.time() - float(holder.get("heartbeat_unix") or 0.0)
    return (
        f"run {holder.get('run_id', '?')} ({holder.get('user', '?')}@{holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}, started {holder.get('started_at', '?')}, heartbeat {max(age, 0):.0f}s ago)"
    )


def read_holder(root: Location) -> dict[str, Any] | None:
    """The record of the run holding ``root``'s lease, or None when no run holds it."""
    current = conditional.read(root / LEASE_FILE)
    return _parse(current.data) if current is not None else None


def _parse(data: bytes) -> dict[str, Any]:
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
