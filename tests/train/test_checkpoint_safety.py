"""Checkpoints in the run folder are read as weights only: a pickled object cannot run code on load."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from gre_ray.config.loader import build
from gre_ray.train.config import ContrastiveConfig
from gre_ray.train.engine import Engine


class Planted:
    """What a writer of a shared run root could plant: an object whose unpickling runs a command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def engine() -> Engine:
    torch.manual_seed(0)
    settings = build(ContrastiveConfig, {"deepspeed": {"enabled": False}})
    return Engine(nn.Linear(3, 2), settings, total_steps=4, device=torch.device("cpu"))


def test_ddp_checkpoint_round_trips_with_weights_only(tmp_path):
    trained = engine()
    trained(torch.ones(1, 3)).sum().backward()
    trained.step()
    trained.save(str(tmp_path), rank=0)
    restored = engine()
    restored.load(str(tmp_path))
    for a, b in zip(trained.module.parameters(), restored.module.parameters()):
        torch.testing.assert_close(a, b)
    assert restored.micro_step == 1 and restored.optimizer.state_dict()["state"]


def test_a_planted_object_in_a_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": {}, "payload": Planted(str(marker))}, tmp_path / "trainer.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        engine().load(str(tmp_path))
    assert not marker.exists()
