"""Stage ``demo_data`` alone, on the cluster in ``RAY_ADDRESS``.

Generates the bundled demo domains: items, interactions and their ground truth.
``python -m jobs.demo_data --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only demo_data``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="demo_data")


if __name__ == "__main__":
    sys.exit(main())
