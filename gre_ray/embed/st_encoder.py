"""Any Sentence-Transformers model, run by ``SentenceTransformer`` itself.

:class:`~gre_ray.embed.encoder.Encoder` reproduces Transformer + Pooling (+ Normalize)
stacks with token-budget batching; every other stack (Dense heads as in LaBSE or
sentence-t5, max/weighted-mean pooling, lower-casing, a model's own modules behind
``trust_remote_code``) is loaded here with ``SentenceTransformer(folder)`` (Reimers &
Gurevych 2019) and encoded with its own ``encode``, so the vectors are the ones the
model's authors publish. The prefix is passed as ST's ``prompt`` (a Pooling module with
``include_prompt: false`` then leaves the prompt's tokens out, as its authors intended).

Same interface as the encoder (``spec``, ``device``, ``dim``, ``encode_with_stats``,
``encode``), so the Ray Data actor (:class:`~gre_ray.embed.inference.EmbedBatch`) and the
cache take either. Matryoshka truncation and normalisation are applied after ST's
stack, as in :func:`~gre_ray.embed.encoder.truncate_dim`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from gre_ray.embed.batching import clean_texts
from gre_ray.embed.config import Device, DType
from gre_ray.embed.encoder import Encoded, EncoderSpec, resolve_device, truncate_dim
from gre_ray.errors import ConfigError

_DTYPES = {DType.FLOAT32: torch.float32, DType.BFLOAT16: torch.bfloat16, DType.FLOAT16: torch.float16}


class StEncoder:
    """A ``SentenceTransformer`` behind the encoder's interface.

    Raises:
        ConfigError: the folder does not load (one line with the library's reason).
    """

    def __init__(self, spec: EncoderSpec, device: Device = Device.AUTO) -> None:
        from sentence_transformers import SentenceTransformer

        self.spec = spec
        self.device = resolve_device(device, spec.dtype)
        kwargs = {"torch_dtype": _DTYPES[spec.dtype]} if spec.dtype is not DType.FLOAT32 else None
        try:
            self.model = SentenceTransformer(spec.model_dir, device=str(self.device),
                                             trust_remote_code=spec.trust_remote_code, model_kwargs=kwargs)
        except (OSError, ValueError, ImportError, KeyError) as exc:
            message = " ".join(str(exc).split())[:300]
            raise ConfigError(f"encoder.model {spec.model_dir}: sentence-transformers cannot load it: {message}") from None
        if spec.max_length:
            self.model.max_seq_length = spec.max_length
        self.tokenizer = getattr(self.model, "tokenizer", None)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        width = int(get_dim() or 0) or self._probe_width()
        if spec.dim is not None and spec.dim > width:
            raise ConfigError(f"encoder.dim {spec.dim} exceeds the model's output dimension {width}")
        self.dim = spec.dim or width

    def _probe_width(self) -> int:
        return int(self.model.encode(["x"], convert_to_numpy=True).shape[1])

    def _token_counts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Tokens per text after truncation, and which texts were longer than the limit."""
        limit = int(self.model.max_seq_length or 0)
        if self.tokenizer is None or not callable(self.tokenizer):
            zeros = np.zeros(len(texts), dtype=np.int64)
            return zeros, zeros.astype(bool)
        full = np.fromiter((len(ids) for ids in self.tokenizer(texts, truncation=False)["input_ids"]),
                           dtype=np.int64, count=len(texts))
        if not limit:
            return full, np.zeros(len(texts), dtype=bool)
        return np.minimum(full, limit), full > limit

    @torch.inference_mode()
    def encode_with_stats(
        self, texts: Sequence[str], *, token_budget: int = 4096, max_batch_rows: int = 128, sort: bool = True
    ) -> Encoded:
        """Embed ``texts`` in their order; ``token_budget`` does not apply (ST batches by rows
        and sorts by length itself)."""
        prepared, empty = clean_texts(texts, "")
        prompt = self.spec.prefix or None
        vectors = self.model.encode(prepared, prompt=prompt, batch_size=max_batch_rows, convert_to_tensor=True,
                                    show_progress_bar=False).float()
        if self.spec.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        vectors = truncate_dim(vectors, self.spec.dim, self.spec.normalize)
        n_tokens, truncated = self._token_counts([(self.spec.prefix or "") + t for t in prepared])
        return Encoded(vectors.cpu().numpy().astype(np.float32), n_tokens, truncated, empty, n_tokens.copy())

    def encode(self, texts: Sequence[str], *, token_budget: int = 4096, max_batch_rows: int = 128) -> np.ndarray:
        """(rows, dim) float32 vectors of ``texts``, in their order."""
        return self.encode_with_stats(texts, token_budget=token_budget, max_batch_rows=max_batch_rows).vectors
