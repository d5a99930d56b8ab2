"""``benchmarks/gpu_check.py`` runs end to end on a CPU with tiny sizes, so it never rots before a GPU arrives."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_every_section(gpu_check, tiny_bert_path, tmp_path):
    out = tmp_path / "check.json"
    results = gpu_check.main(["--tiny", "--device", "cpu", "--model", tiny_bert_path, "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert results["device"]["type"] == "cpu" and results["device"]["peak_bf16_flops"] is None
    runs = results["encoder"]["runs"]
    assert [(r["dtype"], r["batch_rows"]) for r in runs] == [("float32", 4), ("float32", 16)]
    assert all(r["tokens_per_s"] > 0 and r["padding"] >= 1.0 and r["bound_tokens_per_s"] is None for r in runs)
    assert results["contrastive"]["pairs_per_s"] > 0 and len(results["contrastive"]["loss_first_last"]) == 2
    assert results["recsys"]["sasrec"]["samples_per_s"] > 0 and results["recsys"]["din"]["samples_per_s"] > 0
    ranking = results["full_ranking"]
    assert ranking["users"] == 64 and ranking["items"] == 500 and 0 <= ranking["mean_rank"] < 500


def test_flops_per_token_by_hand(gpu_check):
    from types import SimpleNamespace

    # d=4, f=8, 2 layers: 2*2*(4*16 + 2*4*8) = 512 weight FLOPs; 2*2*10*4 = 160 attention FLOPs at context 10
    config = SimpleNamespace(hidden_size=4, intermediate_size=8, num_hidden_layers=2)
    assert gpu_check.flops_per_token(config, 10) == 672.0


def test_peak_table_matches_the_longest_name(gpu_check):
    assert gpu_check.peak_bf16_flops("NVIDIA H200") == 989e12
    assert gpu_check.peak_bf16_flops("NVIDIA H100 PCIe") == 756e12
    assert gpu_check.peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert gpu_check.peak_bf16_flops("Some New GPU") is None
