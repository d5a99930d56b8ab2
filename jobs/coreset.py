"""Stage ``coreset`` alone, on the cluster in ``RAY_ADDRESS``.

Selects the domain-balanced, diverse corpus for continued pre-training.
``python -m jobs.coreset --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only coreset``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="coreset")


if __name__ == "__main__":
    sys.exit(main())
