"""Run every stage of a config on the cluster in ``RAY_ADDRESS``.

``python -m jobs.pipeline --config configs/gre_b.yaml --set run.root=s3://bucket/runs/gre-b``;
stages already up to date in the run folder are skipped, ``--force STAGE`` reruns one.
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
