"""The uniformity term (Wang & Isola 2020) by hand, and the losses adding it with its weight."""

from __future__ import annotations

import math

import pytest
import torch

from gre_ray.train.losses import ContrastiveInputs, build_loss
from gre_ray.train.losses.uniformity import uniformity_loss


def test_uniformity_by_hand():
    orthogonal = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert uniformity_loss(orthogonal).item() == pytest.approx(-4.0)  # ||x - y||^2 = 2, t = 2
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert uniformity_loss(same).item() == pytest.approx(0.0, abs=1e-6)
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # distances^2: 2, 0, 2 (each twice)
    expected = math.log((4 * math.exp(-4.0) + 2 * 1.0) / 6)
    assert uniformity_loss(three).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", ["infonce", "gte"])
def test_forward_adds_the_weighted_uniformity_term(name):
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    features = {"query": q, "positive": p}
    plain = build_loss(name, temperature=0.1, gather_negatives=False)(lambda f: f, features)
    spread = build_loss(name, temperature=0.1, gather_negatives=False, uniformity=0.5)(lambda f: f, features)
    base = build_loss(name, temperature=0.1, gather_negatives=False).compute_loss_from_embeddings(ContrastiveInputs(q, p))
    assert plain.item() == pytest.approx(base.item())
    assert spread.item() == pytest.approx(base.item() + 0.5 * uniformity_loss(torch.cat([q, p])).item(), abs=1e-6)


def test_the_uniformity_gradient_spreads_collapsed_vectors():
    x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0]], requires_grad=True)
    unit = torch.nn.functional.normalize(x, dim=-1)
    before = (unit @ unit.T).mean().item()
    uniformity_loss(unit).backward()
    with torch.no_grad():
        moved = torch.nn.functional.normalize(x - 0.5 * x.grad, dim=-1)
    assert (moved @ moved.T).mean().item() < before
