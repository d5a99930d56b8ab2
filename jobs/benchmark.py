"""Stage ``benchmark`` alone, on the cluster in ``RAY_ADDRESS``.

Runs the GRE-B grid of recommenders over the embeddings on Ray Tune.
``python -m jobs.benchmark --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only benchmark``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="benchmark")


if __name__ == "__main__":
    sys.exit(main())
