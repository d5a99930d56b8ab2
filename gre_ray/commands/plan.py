"""``gre-ray plan CONFIG --cluster FILE``: will this config run on that cluster? Offline, no Ray.

Prints each listed stage's resource need (actors, workers or trials, the bundle of each, the
half precision its GPUs compute in) against the node types and maxima of a ``ray up`` YAML or
a KubeRay ``RayCluster``/``RayJob``, and whether it fits. Every misfit is one line naming the
setting, the need and the largest node or total, and the exit status is then 2. The same
functions judge the fit when a run joins a cluster (:mod:`gre_ray.runner.resources`).
"""

from __future__ import annotations

import argparse
import sys

from gre_ray.commands import COMMANDS
from gre_ray.commands.common import add_config_arguments, config_from_args
from gre_ray.runner.cluster_spec import load_cluster
from gre_ray.runner.resources import ClusterLimits, Need, fmt, infeasible, precision_issue
from gre_ray.pipeline import stage_needs


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "plan", help=COMMANDS["plan"]
    )
    add_config_arguments(parser, address=False)
    parser.add_argument("--cluster", required=True, metavar="FILE",
                        help="a `ray up` YAML (cluster/*.yaml) or a KubeRay RayCluster/RayJob manifest")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    limits = load_cluster(args.cluster)
    stages = stage_needs(config)
    if limits is None:
        print(f"cluster {args.cluster}: Ray's local provider; each host's resources are detected when Ray "
              "starts there, so nothing can be judged offline (the run checks when it joins the cluster)")
        for name, needs in stages:
            for need in needs:
                print(f"  {name}  {need.setting}  {need.describe(need.count or need.min_count)}")
        return 0
    rows, misfits, notes = [], [], []
    for name, needs in stages:
        if not needs:
            rows.append((name, "-", "driver / head only", "fits"))
        for need in needs:
            verdict, misfit, note = judge(need, limits)
            rows.append((name, need.setting, describe(need, limits), verdict))
            misfits += [m for m in misfit if m not in misfits]
            notes += [n for n in [note] if n and n not in notes]
    print(f"cluster {args.cluster}: {limits.describe()}"
          + (f"; max_workers {limits.max_workers}" if limits.max_workers is not None else ""))
    widths = [max(len(r[i]) for r in rows + [("stage", "setting", "need", "fits")]) for i in range(3)]
    for row in [("stage", "setting", "need", "fits")] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    for note in notes:
        print(f"note: {note}")
    for line in misfits:
        print(f"gre-ray: error: {line}", file=sys.stderr)
    return 2 if misfits else 0


def judge(need: Need, limits: ClusterLimits) -> tuple[str, list[str], str | None]:
    """``(verdict, misfit lines, note)`` of one need on the cluster."""
    misfits = []
    reason = infeasible(need, limits)
    if reason:
        misfits.append(reason)
    precision, note = precision_issue(need, limits)
    if precision:
        misfits.append(precision)
    if misfits:
        return "NO", misfits, note
    hosts = ", ".join(t.name for t in limits.hosts(need.bundle))
    return f"fits ({hosts})", [], note


def describe(need: Need, limits: ClusterLimits) -> str:
    """The need in words, e.g. ``8 worker(s) x {CPU: 1, GPU: 1}, bf16``."""
    if need.count:
        text = need.describe(need.count)
    else:
        text = f"up to {limits.max_units(need)} {need.unit}(s) x {fmt(need.bundle)} (as many as fit)"
    if need.precision:
        text += f", {need.precision[0]}"
    return text
