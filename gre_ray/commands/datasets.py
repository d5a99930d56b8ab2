"""``gre-ray datasets``: list the registry's datasets, their scenario and whether their raw files are present."""

from __future__ import annotations

import argparse

from gre_ray.data.storage import Location
from gre_ray.ingest.sources import candidates
from gre_ray.registry import RegistryEntry, load_registry


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help="list GRE-B and training datasets and whether their raw files are present")
    parser.add_argument("--data-root", default="data/raw", help="folder the raw files are under (default: data/raw)")
    parser.add_argument("--registry", default="", help="another registry YAML (default: the packaged one)")
    parser.add_argument("--role", choices=["benchmark", "train"], help="list only this role")
    parser.add_argument("--urls", action="store_true", help="also print where each dataset is published")
    parser.set_defaults(handler=main)


def presence(entry: RegistryEntry, root: Location) -> tuple[int, list[str]]:
    """How many of the entry's raw files exist under ``root``, and the names of the missing ones."""
    missing = [name for name in entry.files if not any(c.exists() for c in candidates(root, entry.folder, name))]
    return len(entry.files) - len(missing), missing


def main(args: argparse.Namespace) -> int:
    registry = load_registry(args.registry or None)
    root = Location.of(args.data_root)
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
    print(f"{ready} dataset(s) ready to ingest (ingest.datasets: [NAME, ...], ingest.data_root: {args.data_root})")
    return 0
