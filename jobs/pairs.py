"""Stage ``pairs`` alone, on the cluster in ``RAY_ADDRESS``.

Mines collaborative item pairs and hard negatives from interaction sequences.
``python -m jobs.pairs --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only pairs``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="pairs")


if __name__ == "__main__":
    sys.exit(main())
