"""``gre-ray datasets``: list the registry's datasets, whether their raw files are present and, for a run,
their ingested counts against GRE-B Table 1; ``gre-ray datasets download`` fetches them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gre_ray.commands import COMMANDS
from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.ingest.config import Scenario
from gre_ray.ingest.published import KEYS
from gre_ray.ingest.registry import RegistryEntry, load_registry
from gre_ray.ingest.sources import candidates
from gre_ray.ingest.registry.download import ARCHIVES, UNPACKED, download_entries, select
from gre_ray.runner.interrupt import Interrupted
from gre_ray.runner.manifest import read_manifest


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help=COMMANDS["datasets"])
    parser.add_argument("--data-root", default="data/raw", help="folder the raw files are under (default: data/raw)")
    parser.add_argument("--registry", default="", help="another registry YAML (default: the packaged one)")
    parser.add_argument("--role", choices=["benchmark", "train"], help="list only this role")
    parser.add_argument("--urls", action="store_true", help="also print where each dataset is published")
    parser.add_argument("--run", default="", help="a run folder: show its ingested counts against GRE-B Table 1")
    parser.set_defaults(handler=main)
    actions = parser.add_subparsers(dest="action", metavar="download")
    download = actions.add_parser("download", help="fetch datasets' published files from their official hosts")
    download.add_argument("names", nargs="*", metavar="NAME", help="registry names (gre-ray datasets lists them)")
    download.add_argument("--to", required=True, help="folder or URI to put the raw files under (then ingest.data_root)")
    download.add_argument("--scenario", choices=[s.value for s in Scenario], help="also every dataset of this scenario")
    download.add_argument("--all", action="store_true", help="every dataset of the registry")
    download.add_argument(
        "--role", choices=["benchmark", "train"],
        help="every dataset of this role: benchmark (GRE-B's 26) or train (GRE's training domains); "
             "with --scenario, that scenario's datasets of the role",
    )
    download.add_argument("--registry", default="", help="another registry YAML (default: the packaged one)")
    download.add_argument(
        "--cache", default="",
        help=f"local staging folder when --to is a URI, kept so an interrupted download resumes "
             f"(default: {default_cache()})",
    )
    download.set_defaults(handler=main_download)


def presence(entry: RegistryEntry, root: Location) -> tuple[int, list[str]]:
    """How many of the entry's raw files exist under ``root``, and the names of the missing ones."""
    missing = [name for name in entry.files if not any(c.exists() for c in candidates(root, entry.folder, name))]
    return len(entry.files) - len(missing), missing


def main(args: argparse.Namespace) -> int:
    registry = load_registry(args.registry or None)
    root = Location.of(args.data_root)
    if not root.is_dir():
        state = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(f"--data-root {root.uri} {state}; pass the folder the raw files are under (default: data/raw)")
    checked = _published_checks(args.run) if args.run else {}
    print(f"{'dataset':<18} {'scenario':<11} {'role':<10} {'adapter':<13} raw files under {root.uri}")
    ready = 0
    for entry in registry.values():
        if args.role and entry.role.value != args.role:
            continue
        found, missing = presence(entry, root)
        ready += not missing
        status = "present" if not missing else f"missing {', '.join(missing)}" if not found else f"partial, missing {', '.join(missing)}"
        print(f"{entry.name:<18} {entry.scenario.value:<11} {entry.role.value:<10} {entry.adapter.value:<13} {status}")
        if args.urls:
            print(f"{'':<18} {entry.homepage}")
        if entry.name in checked:
            print(f"{'':<18} {_against_table1(checked[entry.name])}")
    print(f"{ready} dataset(s) ready to ingest (ingest.datasets: [NAME, ...], ingest.data_root: {args.data_root})")
    return 0


def _published_checks(run: str) -> dict[str, dict]:
    """Each ingested dataset's comparison with GRE-B Table 1, from the run's ingest manifest."""
    manifest = read_manifest(Location.of(run) / "ingest")
    if manifest is None:
        raise DataError(f"--run {run}: no completed ingest stage there (expected {run}/ingest/manifest.json)")
    datasets = manifest.get("stats", {}).get("datasets", {})
    return {name: stats["published"] for name, stats in datasets.items() if stats.get("published")}


def _against_table1(check: dict) -> str:
    parts = [f"{k} {check[k]['ours']:,} vs {check[k]['table1']:,} ({check[k]['rel_diff']:+.1%})" for k in KEYS]
    verdict = "within" if check["within"] else "BEYOND"
    return f"ingested vs Table 1: {'; '.join(parts)}; {verdict} {check['tolerance']:.0%}"


def default_cache() -> Path:
    """Where downloads for a URI destination are staged: ``$XDG_CACHE_HOME/gre_ray/downloads``
    (``~/.cache/gre_ray/downloads``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gre_ray" / "downloads"


def main_download(args: argparse.Namespace) -> int:
    """``gre-ray datasets download``: fetch, resume, check; print what is left to do by hand.

    For a URI destination the files are staged in the persistent ``--cache`` folder and each
    dataset is uploaded once its files are complete; a file already at the destination is not
    fetched again. An interrupted run leaves the finished files and the ``.part`` of the one in
    progress in the cache, and the next run resumes from them.
    """
    registry = load_registry(args.registry or None)
    entries = select(registry, args.names, args.scenario, args.all, args.role)
    remote = "://" in args.to and not args.to.startswith("file://")
    local = (Path(args.cache) if args.cache else default_cache()) if remote else Path(args.to.removeprefix("file://"))
    try:
        if not remote:
            manual = download_entries(entries, local)
        else:
            target = Location.of(args.to)
            print(f"staging in {local} (kept: an interrupted download resumes from it)")
            manual = download_entries(entries, local, present=lambda rel, spec: _at_target(target / rel, spec),
                                      done=lambda entry: _upload(local, target, _entry_paths(local, entry)),
                                      shown=args.to)
    except KeyboardInterrupt:
        uploaded = [f"every dataset uploaded so far to {args.to}"] if remote else []
        raise Interrupted([*uploaded, f"the downloaded and partial files in {local}"]) from None
    for line in manual:
        print(f"by hand: {line}")
    print(f"{len(entries)} dataset(s) under {args.to}" + (f"; {len(manual)} need a step by hand (above)" if manual else ""))
    return 0


def _at_target(dest: Location, spec) -> bool:
    """Whether ``dest`` already holds the file complete (the registry's size, where it has one)."""
    import pyarrow.fs as pafs

    info = dest.fs.get_file_info(dest.path)
    return info.type == pafs.FileType.File and (not spec.size or info.size == spec.size)


def _entry_paths(local: Path, entry: RegistryEntry) -> list[Path]:
    """The complete files of one dataset in the staging folder: its folder, its raw files at the
    top (where an archive may unpack them) and its archives (no ``.part``, no unpack markers);
    other datasets staged there earlier stay out of it."""
    folder = local / entry.folder
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    files += [local / name for name in entry.files] + [local / ARCHIVES / s.file for s in entry.downloads if s.unpack]
    return sorted(p for p in files if p.is_file() and not p.name.endswith((".part", UNPACKED)))


def _upload(local: Path, target: Location, files: list[Path]) -> None:
    """Copy ``files`` (under ``local``) to the same paths under ``target`` with pyarrow.fs, skipping same-size ones."""
    import pyarrow.fs as pafs

    for path in files:
        dest = target / path.relative_to(local).as_posix()
        info = dest.fs.get_file_info(dest.path)
        if info.type == pafs.FileType.File and info.size == path.stat().st_size:
            continue
        dest.parent.mkdir()
        pafs.copy_files(str(path), dest.path, destination_filesystem=dest.fs)
        print(f"uploaded {dest.uri}")
