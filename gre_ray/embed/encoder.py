"""The text encoder: a Hugging Face model, a pooling mode, optional L2 normalisation.

This is the bi-encoder of Sentence-BERT (Reimers & Gurevych, 2019) and of the embedding
models GRE-B compares (GTE, Li et al. 2023; E5, Wang et al. 2022; BGE): tokenize
``prefix + text`` truncated to ``max_length`` tokens, run ``AutoModel``, pool the last
hidden states, normalise. For a Sentence-Transformers folder with the default settings
it gives the vectors of ``SentenceTransformer.encode``.

Deviations, on purpose: batches are formed by a token budget over length-sorted texts
(:mod:`gre_ray.embed.batching`) rather than a fixed row count, and empty texts are embedded
as the bare prefix. Half precision is refused on CPU rather than silently slowed down
(bf16 matmuls are slower than fp32 on CPUs without native bf16), except bfloat16 on a CPU
with AVX512-BF16 or AMX, where oneDNN runs it about 1.8x faster (``benchmarks/RESULTS.md``).
Backend ``openvino`` loads :class:`~gre_ray.embed.openvino_encoder.OpenVinoEncoder`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from gre_ray.embed.batching import clean_texts, pad_rows, token_budget_batches
from gre_ray.embed.config import Backend, Device, DType, EncoderConfig
from gre_ray.embed.model_folder import (
    check_encoder_folder, read_st_metadata, remote_code_reason, resolve_model_dir, write_st_metadata,
)
from gre_ray.embed.pooling import Pooling, pool
from gre_ray.errors import ConfigError

log = logging.getLogger("gre_ray")

_TORCH_DTYPES = {DType.FLOAT32: torch.float32, DType.BFLOAT16: torch.bfloat16, DType.FLOAT16: torch.float16}


@dataclass(frozen=True)
class EncoderSpec:
    """An :class:`EncoderConfig` with every unset field resolved from the model folder.

    Everything in it changes the vectors; with the weights' fingerprint it identifies them.
    """

    model_dir: str
    pooling: Pooling
    normalize: bool
    max_length: int
    prefix: str
    dtype: DType
    backend: Backend = Backend.TRANSFORMERS
    dim: int | None = None
    trust_remote_code: bool = False

    def key_fields(self) -> dict[str, object]:
        """The fields that enter a cache key (the folder path does not: its bytes do).

        ``backend`` and ``dim`` enter only when not their defaults, so the keys of
        vectors cached before they existed stay valid.
        """
        out: dict[str, object] = {"pooling": self.pooling.value, "normalize": self.normalize,
                                  "max_length": self.max_length, "prefix": self.prefix, "dtype": self.dtype.value}
        if self.backend is not Backend.TRANSFORMERS:
            out["backend"] = self.backend.value
        if self.dim is not None:
            out["dim"] = self.dim
        return out


def resolve_spec(config: EncoderConfig) -> EncoderSpec:
    """Resolve the model folder and the settings left to it, reading files only (no weights).

    Raises:
        ConfigError: the model is not found, needs ``trust_remote_code`` that was not
            given, has an unsupported module, is not an encoder, or ``max_length``
            exceeds what the model's position embeddings allow.
    """
    folder = resolve_model_dir(config.model)
    meta = read_st_metadata(folder)
    reason = remote_code_reason(folder, meta)
    if reason and not config.trust_remote_code:
        raise ConfigError(
            f"encoder.model {config.model!r} needs trust_remote_code: {reason}; set encoder.trust_remote_code: true "
            "for this model if you trust its repository's code"
        )
    backend = config.backend
    if backend is Backend.AUTO:
        backend = Backend.SENTENCE_TRANSFORMERS if (meta.foreign or reason) else Backend.TRANSFORMERS
    if backend in (Backend.TRANSFORMERS, Backend.OPENVINO) and meta.foreign:
        raise ConfigError(
            f"encoder.model {config.model!r}: unsupported module for backend {backend.value} ({meta.foreign}); "
            "it reproduces Transformer + Pooling [+ Normalize] only: use encoder.backend: sentence_transformers"
        )
    normalize = next(v for v in (config.normalize, meta.normalize, True) if v is not None)
    if backend is Backend.SENTENCE_TRANSFORMERS:
        return EncoderSpec(
            model_dir=str(folder), pooling=meta.pooling or Pooling.MEAN, normalize=normalize,
            max_length=int(config.max_length or meta.max_seq_length or 0), prefix=config.prefix or meta.prefix or "",
            dtype=config.dtype, backend=backend, dim=config.dim, trust_remote_code=config.trust_remote_code,
        )
    model_config = check_encoder_folder(folder)
    limits = [v for v in (model_config.get("max_position_embeddings"), _tokenizer_limit(folder)) if v]
    model_limit = min(limits) if limits else None
    max_length = config.max_length or meta.max_seq_length or model_limit or 512
    if model_limit and max_length > model_limit:
        raise ConfigError(
            f"encoder.max_length {max_length} exceeds the model's limit of {model_limit} tokens ({folder})"
        )
    normalize = next(v for v in (config.normalize, meta.normalize, True) if v is not None)
    return EncoderSpec(
        model_dir=str(folder),
        pooling=config.pooling or meta.pooling or Pooling.MEAN,
        normalize=normalize,
        max_length=int(max_length),
        prefix=config.prefix or meta.prefix or "",
        dtype=config.dtype,
        backend=backend,
        dim=config.dim,
        trust_remote_code=config.trust_remote_code,
    )


def truncate_dim(vectors: torch.Tensor, dim: int | None, normalize: bool) -> torch.Tensor:
    """Matryoshka truncation: the first ``dim`` components, L2-normalised again when normalising.

    Raises:
        ConfigError: ``dim`` exceeds the model's output width.
    """
    if dim is None:
        return vectors
    if dim > vectors.shape[1]:
        raise ConfigError(f"encoder.dim {dim} exceeds the model's output dimension {vectors.shape[1]}")
    vectors = vectors[:, :dim]
    return torch.nn.functional.normalize(vectors, p=2, dim=-1) if normalize else vectors


def _tokenizer_limit(folder: Path) -> int | None:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return None
    limit = json.loads(path.read_text(encoding="utf-8")).get("model_max_length")
    return int(limit) if isinstance(limit, (int, float)) and limit < 1e9 else None  # HF uses 1e30 for "none"


def native_bf16() -> bool:
    """Whether this machine's CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split()))
    except OSError:
        pass
    return False


def resolve_device(device: Device, dtype: DType) -> torch.device:
    """The torch device for ``device``; half precision on CPU is a ConfigError, except
    bfloat16 on a CPU that computes it natively."""
    if device is Device.AUTO:
        device = Device.CUDA if torch.cuda.is_available() else Device.CPU
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ConfigError("encoder.device is cuda but this process sees no GPU (set num_gpus > 0 or device: cpu)")
    if device is Device.CPU and dtype is not DType.FLOAT32 and not (dtype is DType.BFLOAT16 and native_bf16()):
        raise ConfigError(f"encoder.dtype {dtype.value} needs a GPU or, for bfloat16, a CPU with native bf16 "
                          "(AVX512-BF16/AMX); on this CPU use dtype: float32")
    return torch.device(device.value)


@dataclass(frozen=True)
class Encoded:
    """Vectors of a list of texts with per-text counts.

    Attributes:
        vectors: (rows, dim) float32.
        n_tokens: tokens of each text after truncation (special tokens included).
        truncated: texts longer than ``max_length`` tokens.
        empty: empty or whitespace-only texts.
        padded_tokens: width of the padded batch each text ran in (padding cost).
    """

    vectors: np.ndarray
    n_tokens: np.ndarray
    truncated: np.ndarray
    empty: np.ndarray
    padded_tokens: np.ndarray


class Encoder:
    """A loaded text encoder. Build with :meth:`from_config` or :meth:`load`."""

    def __init__(self, spec: EncoderSpec, device: Device = Device.AUTO) -> None:
        from transformers import AutoModel

        self.spec = spec
        self.device = resolve_device(device, spec.dtype)
        self._load_tokenizer()
        self.model = AutoModel.from_pretrained(
            spec.model_dir, dtype=_TORCH_DTYPES[spec.dtype], trust_remote_code=spec.trust_remote_code
        ).to(self.device).eval()
        self.dim = int(getattr(self.model.config, "hidden_size", 0)) or self._probe_dim()
        if spec.dim is not None:
            if spec.dim > self.dim:
                raise ConfigError(f"encoder.dim {spec.dim} exceeds the model's output dimension {self.dim}")
            self.dim = spec.dim

    @classmethod
    def from_config(cls, config: EncoderConfig) -> "Encoder":
        """Load the encoder ``config`` describes (unset fields from the model folder); a
        stack only ``SentenceTransformer`` reproduces loads as a
        :class:`~gre_ray.embed.st_encoder.StEncoder` (same interface)."""
        spec = resolve_spec(config)
        if spec.dtype is DType.AUTO:  # the default of the device this encoder lands on
            from gre_ray.embed.devices import settled_dtype

            kind = "cuda" if config.device is Device.CUDA or (
                config.device is Device.AUTO and torch.cuda.is_available()) else "cpu"
            spec = replace(spec, dtype=settled_dtype(spec.dtype, kind))
        if spec.backend is Backend.SENTENCE_TRANSFORMERS:
            from gre_ray.embed.st_encoder import StEncoder

            return StEncoder(spec, config.device)  # type: ignore[return-value]
        if spec.backend is Backend.OPENVINO:
            from gre_ray.embed.openvino_encoder import OpenVinoEncoder

            return OpenVinoEncoder(spec, config.device)
        return cls(spec, config.device)

    @classmethod
    def load(cls, folder: str | Path, **overrides: object) -> "Encoder":
        """Load a folder written by :meth:`save` (or any model folder), reading its pooling back."""
        return cls.from_config(EncoderConfig(model=str(folder), **overrides))

    def _probe_dim(self) -> int:
        return int(self._forward(pad_rows([[self.tokenizer.pad_token_id]], None, pad_id=0)).shape[1])

    def _load_tokenizer(self) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.spec.model_dir)
        if self.tokenizer.pad_token_id is None:  # decoder-only tokenizers often have no pad token
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._with_types = "token_type_ids" in self.tokenizer.model_input_names

    def _finish(self, pooled: torch.Tensor) -> torch.Tensor:
        """Normalise and truncate pooled (rows, hidden) float32 vectors as the spec says."""
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return truncate_dim(pooled, self.spec.dim, self.spec.normalize)

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]] | None, np.ndarray]:
        """Token ids (truncated to ``max_length``), token type ids, and which texts were truncated.

        Tokenizing to ``max_length + 1`` tells which texts are longer than the limit
        without tokenizing them in full; only those are tokenized again at the limit.
        """
        limit = self.spec.max_length
        enc = self.tokenizer(list(texts), truncation=True, max_length=limit + 1, return_token_type_ids=self._with_types,
                             return_attention_mask=False)
        ids, types = enc["input_ids"], enc.get("token_type_ids")
        truncated = np.fromiter((len(row) > limit for row in ids), dtype=bool, count=len(ids))
        if truncated.any():
            rows = np.flatnonzero(truncated)
            again = self.tokenizer([texts[i] for i in rows], truncation=True, max_length=limit,
                                   return_token_type_ids=self._with_types, return_attention_mask=False)
            for j, i in enumerate(rows):
                ids[i] = again["input_ids"][j]
                if types is not None:
                    types[i] = again["token_type_ids"][j]
        return ids, types, truncated

    @torch.inference_mode()
    def _forward(self, batch) -> torch.Tensor:
        inputs = {"input_ids": torch.from_numpy(batch.input_ids).to(self.device),
                  "attention_mask": torch.from_numpy(batch.attention_mask).to(self.device)}
        if batch.token_type_ids is not None:
            inputs["token_type_ids"] = torch.from_numpy(batch.token_type_ids).to(self.device)
        hidden = self.model(**inputs)[0]  # (rows, width, hidden)
        return self._finish(pool(hidden, inputs["attention_mask"], self.spec.pooling))  # (rows, dim) float32

    def encode_with_stats(
        self, texts: Sequence[str], *, token_budget: int = 4096, max_batch_rows: int = 128, sort: bool = True
    ) -> Encoded:
        """Embed ``texts`` (in their order) and count empty, truncated and padded tokens.

        Args:
            texts: the texts; the prefix is added here.
            token_budget: most padded tokens per forward pass.
            max_batch_rows: most rows per forward pass.
            sort: batch by token count (False: batches in input order, for comparison).
        """
        prepared, empty = clean_texts(texts, self.spec.prefix)
        ids, types, truncated = self.tokenize(prepared)
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
        padded = np.zeros(len(ids), dtype=np.int64)
        left = self.tokenizer.padding_side == "left"
        for rows in token_budget_batches(lengths, token_budget, max_batch_rows, sort=sort):
            batch = pad_rows(
                [ids[i] for i in rows],
                None if types is None else [types[i] for i in rows],
                pad_id=self.tokenizer.pad_token_id,
                pad_type_id=self.tokenizer.pad_token_type_id,
                left=left,
            )
            vectors[rows] = self._forward(batch).cpu().numpy()
            padded[rows] = batch.width
        return Encoded(vectors, lengths, truncated, empty, padded)

    def encode(self, texts: Sequence[str], *, token_budget: int = 4096, max_batch_rows: int = 128) -> np.ndarray:
        """(rows, dim) float32 vectors of ``texts``, in their order."""
        return self.encode_with_stats(texts, token_budget=token_budget, max_batch_rows=max_batch_rows).vectors

    def save(self, folder: str | Path) -> None:
        """Write a folder that ``AutoModel``, ``SentenceTransformer`` and :meth:`load` all read.

        The weights and tokenizer in Hugging Face format, plus ``modules.json``,
        ``1_Pooling/config.json`` (the pooling), ``sentence_bert_config.json``
        (``max_seq_length``), a ``2_Normalize`` module when normalising and the prefix as
        the default prompt in ``config_sentence_transformers.json``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        write_st_metadata(folder, dim=self.dim, pooling=self.spec.pooling, normalize=self.spec.normalize,
                          max_length=self.spec.max_length, prefix=self.spec.prefix)
        log.info("saved the encoder to %s", folder)

    def with_spec(self, **changes: object) -> "Encoder":
        """The same loaded model with other pooling/normalisation/prefix/max_length (no reload)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.spec = replace(self.spec, **changes)
        return clone
