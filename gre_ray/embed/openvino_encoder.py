"""The encoder on OpenVINO's CPU runtime: the same vectors as :class:`Encoder`, computed faster.

The Transformer + Pooling stack (pooling inside the graph, so a forward pass returns one
vector per row) is converted from the Hugging Face weights with ``openvino.convert_model``
and saved as OpenVINO IR once per node and model; every later actor on the node compiles
the saved graph (about a second) instead of loading and converting the weights. The graph
keeps float32 weights; ``dtype`` picks the CPU plugin's inference precision
(``INFERENCE_PRECISION_HINT``): ``float32`` gives the float32 vectors to ~1e-6, ``bfloat16``
runs the matrix products in bf16 on CPUs that compute it natively (AVX512-BF16, AMX).

Measured on 2 cores (AMD EPYC with AVX512-BF16, ``benchmarks/RESULTS.md``): bf16 ran
about 2x the float32 torch encoder per core with cosine to the float32 vectors above 0.9999
on every text, while int8 dynamic quantisation (torch or ONNX Runtime) was as fast or
slower and fell to cosine 0.76-0.97 on some texts, so int8 is not offered.

Layout of the conversion cache (``$GRE_RAY_OPENVINO_CACHE``, else
``~/.cache/gre_ray/openvino``)::

    <root>/<weights fingerprint>-<pooling>[-types]/model.xml, model.bin
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from gre_ray.embed.config import Device, DType
from gre_ray.embed.encoder import Encoder, EncoderSpec, resolve_device
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.embed.pooling import Pooling, pool
from gre_ray.errors import ConfigError

log = logging.getLogger("gre_ray")

CACHE_ENV = "GRE_RAY_OPENVINO_CACHE"
_PRECISION = {DType.FLOAT32: "f32", DType.BFLOAT16: "bf16"}


def cache_root() -> Path:
    """This node's folder of converted graphs."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gre_ray" / "openvino")


class _Pooled(torch.nn.Module):
    """Transformer + pooling as one module: token ids in, (rows, hidden) float32 vectors out."""

    def __init__(self, model: torch.nn.Module, pooling: Pooling, with_types: bool) -> None:
        super().__init__()
        self.model, self.pooling, self.with_types = model, pooling, with_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D102 - see the class
        extra = {"token_type_ids": token_type_ids} if self.with_types else {}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]
        return pool(hidden, attention_mask, self.pooling)


def converted_graph(spec: EncoderSpec, with_types: bool, root: Path | None = None) -> Path:
    """The saved OpenVINO graph (``model.xml``) of ``spec``'s model and pooling, converted on first use.

    A file lock serialises the actors of a node, so two actors starting together convert once.
    """
    root = root or cache_root()
    name = f"{model_fingerprint(spec.model_dir)}-{spec.pooling.value}" + ("-types" if with_types else "")
    folder = root / name
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "model.xml").is_file():
            tmp = Path(tempfile.mkdtemp(prefix=f"_tmp-{name}-", dir=root))
            try:
                _convert(spec, with_types, tmp / "model.xml")
                shutil.rmtree(folder, ignore_errors=True)
                tmp.rename(folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            log.info("converted %s to OpenVINO (%s)", spec.model_dir, folder)
    return folder / "model.xml"


def _convert(spec: EncoderSpec, with_types: bool, out: Path) -> None:
    import openvino as ov
    from transformers import AutoModel

    model = AutoModel.from_pretrained(spec.model_dir, dtype=torch.float32,
                                      trust_remote_code=spec.trust_remote_code).eval()
    example = [torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64)]
    if with_types:
        example.append(torch.zeros((2, 8), dtype=torch.int64))
    shapes = [ov.PartialShape([-1, -1])] * len(example)
    with torch.no_grad():
        graph = ov.convert_model(_Pooled(model, spec.pooling, with_types), example_input=tuple(example), input=shapes)
    ov.save_model(graph, str(out), compress_to_fp16=False)  # keep float32 weights: dtype decides the precision


class OpenVinoEncoder(Encoder):
    """:class:`Encoder` with the forward pass on OpenVINO's CPU runtime (same tokenizer, batching, stats).

    Uses as many threads as ``torch.get_num_threads()`` says when it is built (the Ray
    actor sets one per actor first). Inference only: :meth:`save` is refused.

    Raises:
        ConfigError: a CUDA device, a dtype other than float32/bfloat16, or bfloat16 on a
            CPU without native bf16.
    """

    def __init__(self, spec: EncoderSpec, device: Device = Device.AUTO) -> None:
        import openvino as ov

        self.spec = spec
        if device is Device.CUDA or spec.dtype not in _PRECISION:
            raise ConfigError("encoder.backend openvino runs on CPU with dtype float32 or bfloat16; "
                              "on GPUs use backend transformers")
        self.device = resolve_device(Device.CPU, spec.dtype)
        self._load_tokenizer()
        xml = converted_graph(spec, self._with_types)
        config = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": _PRECISION[spec.dtype]}
        self.compiled = ov.Core().compile_model(str(xml), "CPU", config)
        self.request = self.compiled.create_infer_request()
        width = self.compiled.output(0).get_partial_shape()[1]
        self.dim = width.get_length() if width.is_static else int(self._forward_raw(np.zeros((1, 1), np.int64)).shape[1])
        if spec.dim is not None:
            if spec.dim > self.dim:
                raise ConfigError(f"encoder.dim {spec.dim} exceeds the model's output dimension {self.dim}")
            self.dim = spec.dim

    def _forward_raw(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None,
                     token_type_ids: np.ndarray | None = None) -> np.ndarray:
        inputs = [input_ids, np.ones_like(input_ids) if attention_mask is None else attention_mask]
        if self._with_types:
            inputs.append(np.zeros_like(input_ids) if token_type_ids is None else token_type_ids)
        return self.request.infer(inputs)[0]

    def _forward(self, batch) -> torch.Tensor:
        pooled = self._forward_raw(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        return self._finish(torch.from_numpy(np.array(pooled, dtype=np.float32)))  # a copy: the request reuses its buffer

    def save(self, folder) -> None:
        """Refused: the OpenVINO graph is an inference copy; save with ``backend: transformers``."""
        raise ConfigError("encoder.backend openvino is for inference; load with backend transformers to save a model")
