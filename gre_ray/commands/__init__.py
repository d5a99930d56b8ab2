"""Subcommands of ``gre-ray``: one module each, with ``add_parser(subparsers)`` setting ``handler``.

:data:`COMMANDS` names them with their one-line help, so ``gre-ray --help`` lists every
command while the CLI imports only the module of the command it runs
(:func:`gre_ray.cli.build_parser`): ``gre-ray config`` never loads the benchmark's or the
pipeline's modules.
"""

COMMANDS: dict[str, str] = {
    "run": "run the stages a config lists (skipping those already up to date)",
    "config": "check a config and print it with defaults and overrides applied",
    "datasets": "list GRE-B and training datasets and whether their raw files are present",
    "report": "write the GRE-B report (Markdown + self-contained HTML) of a run folder or results file",
    "embed": "embed an items table (item_id, text) with any model and index the vectors",
    "bench": "bench embedding models on GRE-B, reusing every trial already run, and print the leaderboard",
    "plan": "check offline that a config's stages fit a cluster YAML or KubeRay manifest",
    "export": "write the GRE-B result bundle of a run (JSON, schema in docs/bundle.md)",
}
