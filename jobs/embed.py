"""Stage ``embed`` alone, on the cluster in ``RAY_ADDRESS``.

Embeds item texts with a model, on an actor pool over the cluster's GPUs or CPUs.
``python -m jobs.embed --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only embed``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="embed")


if __name__ == "__main__":
    sys.exit(main())
