"""Stage ``mlm`` alone, on the cluster in ``RAY_ADDRESS``.

Continues masked-language-model pre-training of the backbone on Ray Train.
``python -m jobs.mlm --config C [--set key=value] [--force]``; the stages it reads from
must already be up to date in the run folder (as with ``gre-ray run --only mlm``).
"""

from __future__ import annotations

import sys

from jobs.common import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job(argv, description=__doc__, stage="mlm")


if __name__ == "__main__":
    sys.exit(main())
