"""``gre-ray bench`` as a job, on the cluster in ``RAY_ADDRESS``.

``ray job submit --working-dir . -- python -m jobs.bench MODEL [MODEL...] --config C [--datasets ...]``
takes the arguments of ``gre-ray bench`` (``--help`` lists them): it benches the models on
GRE-B, training only the trials the run's results store lacks, and prints the leaderboard.
"""

from __future__ import annotations

import sys

from gre_ray.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
