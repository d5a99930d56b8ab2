"""The Ray Data wiring places the embed actor: an actor Ray gave a GPU share gets a CUDA
device or stops with a one-line error; on a simulated cluster it runs on the CPU and embeds
exactly as a CPU actor does. The pure actor never asks Ray anything itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gre_ray.embed.config import EncoderConfig
from gre_ray.embed.inference import EmbedBatch
from gre_ray.embed.vectors import matrix_of
from gre_ray.wiring.accelerator import SIMULATED_GPUS_ENV, NoCudaDeviceError
from gre_ray.wiring.embed_pipeline import PlacedEmbedBatch
from tests.embed.conftest import items_table

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the actor's device on a machine without CUDA")


def test_a_gpu_actor_without_cuda_stops(tiny_bert_path, monkeypatch):
    monkeypatch.delenv(SIMULATED_GPUS_ENV, raising=False)
    with pytest.raises(NoCudaDeviceError, match=r"^embed actor was given a GPU by Ray"):
        PlacedEmbedBatch(EncoderConfig(model=tiny_bert_path), token_budget=256, max_batch_rows=8, gpu=True)


def test_on_a_simulated_cluster_a_gpu_actor_embeds_like_a_cpu_actor(tiny_bert_path, monkeypatch):
    monkeypatch.setenv(SIMULATED_GPUS_ENV, "1")
    table = items_table(["red wool scarf", "", "a much longer text about hiking boots and socks"])
    placed = PlacedEmbedBatch(EncoderConfig(model=tiny_bert_path), token_budget=256, max_batch_rows=8, gpu=True)
    plain = EmbedBatch(EncoderConfig(model=tiny_bert_path), token_budget=256, max_batch_rows=8, node="n1")
    assert placed.encoder.device.type == "cpu"
    assert plain.worker.endswith("@n1")
    got, want = placed(table), plain(table)
    np.testing.assert_allclose(matrix_of(got.column("embedding"), 32), matrix_of(want.column("embedding"), 32), atol=1e-6)
    assert got.column("_n_tokens").to_pylist() == want.column("_n_tokens").to_pylist()
