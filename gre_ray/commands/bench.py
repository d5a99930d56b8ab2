"""``gre-ray bench MODEL [MODEL...]``: run GRE-B for embedding models and print the leaderboard."""

from __future__ import annotations

import argparse

from gre_ray.commands import COMMANDS
from gre_ray.commands.bench_run import bench
from gre_ray.commands.common import add_config_arguments, config_from_args
from gre_ray.embed.config import Backend, DType
from gre_ray.embed.pooling import Pooling

DEFAULT_CONFIG = "configs/gre_b.yaml"


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help=COMMANDS["bench"],
        description="MODEL: a name from the config's benchmark.embeddings, 'minilm', a model folder or Hugging Face "
                    "id, 'vectors:FOLDER' (FOLDER/<dataset>.parquet with item_id, vector), or "
                    "'http://HOST/v1#MODEL' (an OpenAI-compatible embeddings endpoint).",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="embedding models to bench")
    add_config_arguments(parser, option_default=DEFAULT_CONFIG)
    parser.add_argument("--root", help="run folder (default: the config's run.root); holds the results store")
    parser.add_argument("--datasets", type=_list, help="comma-separated datasets (default: the config's)")
    parser.add_argument("--scenario", type=_list, help="comma-separated scenarios to keep (e.g. e-commerce,video)")
    parser.add_argument("--recommenders", type=_list, help="comma-separated recommenders (sasrec,dssm,din,deepfm)")
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in _list(t)], help="comma-separated seeds")
    parser.add_argument("--fusion", type=_list, help="comma-separated fusion modes (add, concat, text_only, ...)")
    parser.add_argument("--prefix", help="passage prompt put before every item text")
    parser.add_argument("--query-prefix", help="query prompt (used by the zero-training tier's queries)")
    parser.add_argument("--dim", type=int, help="Matryoshka output dimension (truncate, then renormalise)")
    parser.add_argument("--dtype", choices=[d.value for d in DType],
                        help="inference dtype (default auto: float32 on CPUs; bfloat16 on GPUs that have it, "
                             "else float16)")
    parser.add_argument("--backend", choices=[b.value for b in Backend], help="library computing the vectors "
                        "(default auto: transformers when it reproduces the model's stack, else sentence_transformers)")
    parser.add_argument("--pooling", choices=[p.value for p in Pooling],
                        help="default: the model folder's, else mean (decoder embedders: last_token)")
    parser.add_argument("--max-tokens", type=int, help="tokens per text, longer ones truncated (default: the model's)")
    parser.add_argument("--api-key-env", help="environment variable holding an endpoint's API key "
                        "(default: OPENAI_API_KEY); the key itself never goes on the command line")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the named models run their repositories' own code (explicit opt-in)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args, *([f"run.root={args.root}"] if args.root else []))
    encoder = {"prefix": args.prefix, "query_prefix": args.query_prefix, "dim": args.dim,
               "trust_remote_code": args.trust_remote_code, "dtype": args.dtype, "backend": args.backend,
               "pooling": args.pooling, "max_length": args.max_tokens}
    run = bench(config, args.models, datasets=args.datasets, scenarios=args.scenario, recommenders=args.recommenders,
                seeds=args.seeds, fusions=args.fusion, encoder=encoder, api_key_env=args.api_key_env)
    print("\n".join(run.lines))
    return 0
