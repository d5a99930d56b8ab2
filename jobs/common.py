"""The arguments every ``jobs/`` entry point takes, handed on to the ``gre-ray run`` command.

A job is ``python -m jobs.<name> --config C [--set key=value ...]``, started by
``ray job submit`` on the cluster whose address Ray puts in ``RAY_ADDRESS``. The arguments
become a ``gre-ray run`` command line for :func:`gre_ray.cli.main`, so a job runs the same
code as the CLI (:func:`gre_ray.pipeline.run_config`) and reports a user's mistake the same
way: one line on stderr and exit status 2, which ``ray job submit`` shows as a failed job.
"""

from __future__ import annotations

import argparse

from gre_ray.cli import main as cli_main


def run_job(argv: list[str] | None, *, description: str | None, stage: str | None = None) -> int:
    """Parse a job's arguments and run its config.

    Args:
        argv: the command line after the module name (None: ``sys.argv[1:]``).
        description: the job module's docstring, shown by ``--help``.
        stage: run only this stage (``gre-ray run --only STAGE``; its inputs must be up
            to date); None runs every stage the config lists.

    Returns:
        The exit status: 0 on success, 2 for a user's mistake.
    """
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{stage or 'pipeline'}", description=description)
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/demo.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting by its dotted key, e.g. --set run.root=s3://bucket/runs/x (repeatable)",
    )
    if stage is None:
        parser.add_argument(
            "--force", action="append", default=[], metavar="STAGE", help="rerun STAGE even if up to date"
        )
    else:
        parser.add_argument("--force", action="store_true", help=f"rerun {stage} even if up to date")
    args = parser.parse_args(argv)

    command = ["run", args.config]
    for override in args.overrides:
        command += ["--set", override]
    if stage is None:
        forced = args.force
    else:
        command += ["--only", stage]
        forced = [stage] if args.force else []
    for name in forced:
        command += ["--force", name]
    return cli_main(command)
