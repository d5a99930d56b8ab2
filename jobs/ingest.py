"""Stage ``ingest`` alone, on the cluster in ``RAY_ADDRESS``.

Reads the raw sources into the items and interactions tables of the data contract.
``python -m jobs.ingest --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only ingest``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="ingest")


if __name__ == "__main__":
    sys.exit(main())
