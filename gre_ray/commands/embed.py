"""``gre-ray embed``: embed any items table with any model into a folder (embeddings, index, manifest).

Example::

    gre-ray embed --items runs/demo/demo_data/items --model minilm --out runs/vectors
    gre-ray embed --items items.parquet --model intfloat/e5-base-v2 --prefix "passage: " \\
        --out s3://bucket/e5 --num-gpus 0.5 --dtype bfloat16 --set token_budget=65536
    gre-ray embed --items items.parquet --out vectors --backend openvino --dtype bfloat16   # fastest on CPU
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from gre_ray.commands import COMMANDS
from gre_ray.commands.common import add_address, add_overrides
from gre_ray.config.loader import apply_overrides, build
from gre_ray.data.storage import Location
from gre_ray.embed.config import Backend, DType, EmbedConfig
from gre_ray.embed.index import IndexKind
from gre_ray.embed.job import check_settings, read_item_ids
from gre_ray.embed.pooling import Pooling
from gre_ray.root_config import RunSection
from gre_ray.wiring.embed_pipeline import embed_to_folder
from gre_ray.wiring.ray_session import start_ray


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("embed", help=COMMANDS["embed"])
    parser.add_argument("--items", required=True, help="Parquet file or folder with item_id and text columns")
    parser.add_argument("--model", default="minilm", help="Hugging Face id, model folder, or minilm (the default)")
    parser.add_argument("--out", required=True, help="folder to write embeddings/, index/ and manifest.json into")
    parser.add_argument("--pooling", choices=[p.value for p in Pooling], help="default: the model folder's, else mean")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                        help="L2-normalise (default: the model folder's, else yes)")
    parser.add_argument("--max-length", type=int, help="tokens per text (default: the model's limit)")
    parser.add_argument("--prefix", default="", help='text put before each item text, e.g. "passage: "')
    parser.add_argument("--dtype", choices=[d.value for d in DType], default="float32",
                        help="bfloat16: on GPUs, or on CPUs with native bf16 (fastest on CPU with --backend openvino)")
    parser.add_argument("--backend", choices=[b.value for b in Backend],
                        help="library that computes the vectors (default: auto, the exact float32 transformers path)")
    parser.add_argument("--actors", type=int, help="actor pool size (default: one per CPU, or per GPU share)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (fractions allowed)")
    parser.add_argument("--index", choices=[k.value for k in IndexKind], default="flat", help="faiss index kind")
    add_overrides(parser, "any other embed setting by its dotted key, e.g. --set token_budget=8192")
    add_address(parser)
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    parser.set_defaults(handler=main)


def settings_from_args(args: argparse.Namespace) -> EmbedConfig:
    """The embed settings the flags describe, checked like a config file's ``embed`` section."""
    encoder = {"model": args.model, "prefix": args.prefix, "dtype": args.dtype}
    for key, value in (("pooling", args.pooling), ("normalize", args.normalize), ("max_length", args.max_length),
                       ("backend", args.backend)):
        if value is not None:
            encoder[key] = value
    data = {"encoder": encoder, "num_gpus": args.num_gpus, "index": {"kind": args.index}}
    if args.actors is not None:
        data["actors"] = args.actors
    return build(EmbedConfig, apply_overrides(data, list(args.overrides)), prefix="embed")


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    items, out = Location.of(args.items), Location.of(args.out)
    check_settings(settings)  # a bad model or bad items fail before Ray starts
    read_item_ids(items, items.uri)
    start_ray(SimpleNamespace(run=RunSection(ray_address=args.address, num_cpus=args.num_cpus)))
    manifest = embed_to_folder(items, settings, out, extra={"items": items.uri})
    print(f"{manifest['rows']:,} items -> {manifest['dim']}-d vectors in {out.uri} "
          f"({manifest['texts_per_s']:,.0f} texts/s on {manifest['actors']} actor(s); "
          f"empty {manifest['empty_texts']}, truncated {manifest['truncated_texts']}, "
          f"duplicate texts {manifest['duplicate_texts']})")
    return 0
