"""Fetching a registry dataset's published files from their official hosts.

``gre-ray datasets download NAME... --to DIR`` uses :func:`download_entries`. Every file
is fetched over HTTP(S) into ``<name>.part`` beside its destination and renamed only when
complete and checked, so a file present under its own name is complete:

* an interrupted download leaves the ``.part`` file; the next run resumes it with an HTTP
  ``Range`` request (a server that ignores the range sends the whole file again);
* the size (the server's ``Content-Length``, or the registry's ``size``) is checked: a
  download cut short stops with a line naming the file and is resumed by the next run;
* the registry's ``sha256``, where known, is checked: a mismatch removes the download and
  stops with a line naming the file and both digests;
* progress (bytes, rate, ETA) goes to stderr, about once a second.

Google Drive links (NineRec) are fetched with ``gdown`` when it is installed; otherwise the
message says where to fetch the file by hand and where to put it. Entries whose licence the
user must accept (Yelp) are never fetched: their ``manual`` text says what to do. A target
that is a URI (``s3://...``) is filled from a persistent local staging folder (the
command's ``--cache``): a file already at the destination is not fetched again, each
dataset is uploaded as soon as its files are complete, and a ``.part`` left in the cache by
an interrupted run is resumed by the next.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from gre_ray.errors import DataError, UserError
from gre_ray.ingest.registry import DownloadFile, RegistryEntry

READ_BYTES = 1 << 20
ARCHIVES = "_archives"  # archives are kept here, unpacked into the target folder
UNPACKED = ".unpacked"  # marker beside an archive once unpacked


class DownloadError(UserError):
    """A download that failed or does not check out; the message names the file."""


@dataclass
class Progress:
    """Writes ``name: done / total (pct), rate, ETA`` lines to ``stream`` at most every ``interval`` seconds."""

    name: str
    total: int
    start_bytes: int = 0
    stream: TextIO = sys.stderr
    interval: float = 1.0

    def __post_init__(self) -> None:
        self.started = self.last = time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        rate = (done - self.start_bytes) / max(now - self.started, 1e-6)
        total = f" / {_mb(self.total)}" if self.total else ""
        pct = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        eta = f", ETA {max(self.total - done, 0) / rate:.0f} s" if self.total and rate > 0 and not final else ""
        self.stream.write(f"  {self.name}: {_mb(done)}{total}{pct}, {_mb(rate)}/s{eta}\n")
        self.stream.flush()


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _check(spec: DownloadFile, path: Path, label: str) -> None:
    """Size and sha256 against the registry; DownloadError naming the file on a mismatch."""
    size = path.stat().st_size
    if spec.size and size != spec.size:
        raise DownloadError(f"{label}: size {size:,} bytes, the registry expects {spec.size:,}: remove it and download again")
    if spec.sha256:
        got = sha256_of(path)
        if got != spec.sha256:
            path.unlink()
            raise DownloadError(f"{label}: sha256 {got} does not match the registry's {spec.sha256}; removed it, run again to refetch")


def fetch(spec: DownloadFile, dest: Path, stream: TextIO = sys.stderr, timeout: float = 60.0) -> str:
    """Download ``spec`` to ``dest`` (resuming ``dest.part``); ``"present"`` or ``"downloaded"``.

    Raises:
        DownloadError: an HTTP error, a download cut short (resumable), a size or sha256 mismatch.
    """
    label = str(dest)
    if dest.exists():
        _check(spec, dest, label)
        return "present"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(spec.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - registry URLs are http(s) only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and (not spec.size or have == spec.size):  # the part was complete already
            return _finish(spec, part, dest, label)
        raise DownloadError(f"{label}: {spec.url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{label}: cannot reach {spec.url}: {getattr(exc, 'reason', exc)}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else spec.size
        progress = Progress(dest.name, total, have, stream)
        done = have
        try:
            # Unbuffered: every block that arrived is on disk at once, so even a killed process
            # (no chance to flush) leaves all of it in the .part for the next run to resume from.
            with part.open("ab" if resumed else "wb", buffering=0) as out:
                while block := response.read1(READ_BYTES):  # what has arrived: an interrupt keeps it in the .part
                    out.write(block)
                    done += len(block)
                    progress.update(done)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"{label}: download interrupted at {done:,} bytes ({exc}); run again to resume") from None
        progress.update(done, final=True)
    if total and done < total:
        raise DownloadError(f"{label}: download cut short at {done:,} of {total:,} bytes; run again to resume")
    return _finish(spec, part, dest, label)


def _finish(spec: DownloadFile, part: Path, dest: Path, label: str) -> str:
    _check(spec, part, label)
    part.rename(dest)
    return "downloaded"


def fetch_drive(spec: DownloadFile, dest: Path) -> str:
    """A public Google Drive file through ``gdown``, or a DownloadError saying how to fetch it by hand."""
    if dest.exists():
        _check(spec, dest, str(dest))
        return "present"
    try:
        import gdown
    except ImportError:
        raise DownloadError(
            f"{dest.name} is on Google Drive: install gdown (pip install gdown) and run again, or fetch {spec.url} "
            f"in a browser and save it as {dest}"
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if gdown.download(url=spec.url, output=str(part), fuzzy=True, resume=True, quiet=False) is None:
        raise DownloadError(f"{dest.name}: gdown could not fetch {spec.url}; fetch it in a browser and save it as {dest}")
    return _finish(spec, part, dest, str(dest))


def unpack(archive: Path, into: Path) -> bool:
    """Unpack ``archive`` into ``into`` once (a marker file records it); whether it was unpacked now."""
    marker = archive.with_name(archive.name + UNPACKED)
    if marker.exists():
        return False
    try:
        shutil.unpack_archive(str(archive), str(into))
    except (shutil.ReadError, ValueError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot unpack: {exc}; remove it and download again") from None
    marker.write_text("")
    return True


def download_entries(
    entries: list[RegistryEntry],
    target: Path,
    log: Callable[[str], None] = print,
    stream: TextIO = sys.stderr,
    *,
    present: Callable[[str, DownloadFile], bool] | None = None,
    done: Callable[[RegistryEntry], None] | None = None,
    shown: str = "",
) -> list[str]:
    """Fetch every file of ``entries`` under ``target``; the manual steps left to the user (one line each).

    Files go to ``target/<folder>/<file>``; archives to ``target/_archives/`` and are
    unpacked into ``target``. An archive shared by several entries (NineRec) is fetched once.

    Args:
        present: ``present(relative path, spec)`` says the final destination already holds
            the file complete (a URI target): it is neither fetched nor unpacked again.
        done: called after each entry's files are complete (uploads them to a URI target).
        shown: how the manual steps name the destination (default: ``target``).
    """
    manual: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.manual:
            manual.append(f"{entry.name}: {entry.manual} {shown.rstrip('/') or target}/{entry.folder}/")
            continue
        for spec in entry.downloads:
            if spec.url in seen:
                continue
            seen.add(spec.url)
            relative = f"{ARCHIVES}/{spec.file}" if spec.unpack else f"{entry.folder}/{spec.file}"
            dest = target / relative
            if present is not None and not dest.exists() and present(relative, spec):
                log(f"{entry.name}: {spec.file} present at the destination")
                continue
            try:
                drive = "drive.google.com" in spec.url
                state = fetch_drive(spec, dest) if drive else fetch(spec, dest, stream)
            except DownloadError as exc:
                if "Google Drive" in str(exc):
                    manual.append(f"{entry.name}: {exc}")
                    continue
                raise
            log(f"{entry.name}: {spec.file} {state}")
            if spec.unpack and unpack(dest, target):
                log(f"{entry.name}: unpacked {spec.file} into {target}")
        if done is not None:
            done(entry)
    return manual


def select(
    registry: dict[str, RegistryEntry], names: list[str], scenario: str | None, everything: bool, role: str | None = None
) -> list[RegistryEntry]:
    """The entries named, plus those of a scenario, of a role (``benchmark``: GRE-B's datasets;
    ``train``: GRE's training domains; with a scenario, its datasets of that role) or all of
    them; DataError for an unknown name."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise DataError(f"unknown dataset(s) {', '.join(unknown)} (known: {', '.join(registry)})")
    chosen = [registry[n] for n in names]
    pool = [e for e in registry.values() if role is None or e.role.value == role]
    if scenario:
        chosen += [e for e in pool if e.scenario.value == scenario and e not in chosen]
    if everything or (role and not scenario):
        chosen += [e for e in pool if e not in chosen]
    if not chosen:
        raise DataError("name datasets to download, or pass --scenario, --role or --all")
    return chosen
