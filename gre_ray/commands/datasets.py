"""``gre-ray datasets``: list the registry's datasets, whether their raw files are present and, for a run,
their ingested counts against GRE-B Table 1; ``gre-ray datasets download`` fetches them."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gre_ray.data.storage import Location
from gre_ray.errors import DataError
from gre_ray.ingest.config import Scenario
from gre_ray.ingest.published import KEYS
from gre_ray.ingest.registry import RegistryEntry, load_registry
from gre_ray.ingest.sources import candidates
from gre_ray.ingest.registry.download import download_entries, select
from gre_ray.runner.manifest import read_manifest


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help="list GRE-B and training datasets and whether their raw files are present")
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
    download.add_argument("--registry", default="", help="another registry YAML (default: the packaged one)")
    download.add_argument("--cache", default="", help="local staging folder when --to is a URI (default: a temporary one)")
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


def main_download(args: argparse.Namespace) -> int:
    """``gre-ray datasets download``: fetch, resume, check; print what is left to do by hand."""
    registry = load_registry(args.registry or None)
    entries = select(registry, args.names, args.scenario, args.all)
    remote = "://" in args.to and not args.to.startswith("file://")
    with tempfile.TemporaryDirectory(prefix="gre_ray_download_") as scratch:
        local = Path(args.cache or scratch) if remote else Path(args.to.removeprefix("file://"))
        manual = download_entries(entries, local)
        if remote:
            _upload(local, Location.of(args.to))
    for line in manual:
        print(f"by hand: {line}")
    print(f"{len(entries)} dataset(s) under {args.to}" + (f"; {len(manual)} need a step by hand (above)" if manual else ""))
    return 0


def _upload(local: Path, target: Location) -> None:
    """Copy the complete files of ``local`` (no ``.part``) to ``target`` with pyarrow.fs, skipping same-size ones."""
    import pyarrow.fs as pafs

    for path in sorted(p for p in local.rglob("*") if p.is_file() and not p.name.endswith(".part")):
        dest = target / path.relative_to(local).as_posix()
        info = dest.fs.get_file_info(dest.path)
        if info.type == pafs.FileType.File and info.size == path.stat().st_size:
            continue
        dest.parent.mkdir()
        pafs.copy_files(str(path), dest.path, destination_filesystem=dest.fs)
        print(f"uploaded {dest.uri}")
