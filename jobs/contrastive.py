"""Stage ``contrastive`` alone, on the cluster in ``RAY_ADDRESS``.

Fine-tunes the backbone into GRE with a contrastive loss on Ray Train.
``python -m jobs.contrastive --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only contrastive``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="contrastive")


if __name__ == "__main__":
    sys.exit(main())
