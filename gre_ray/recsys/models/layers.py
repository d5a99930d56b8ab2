"""Layers shared by the ranking models: an MLP builder and the Dice activation.

Dice (Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018,
eq. 9) generalises PReLU with a data-dependent rectification point:
``f(s) = p(s) * s + (1 - p(s)) * alpha * s`` with ``p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))``,
the mean and variance taken over the mini-batch in training and running averages at
inference (a ``BatchNorm1d`` without affine parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from gre_ray.recsys.models.config import Activation


class Dice(nn.Module):
    """Dice activation over the last dimension of a (..., dim) tensor."""

    def __init__(self, dim: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False, eps=eps)
        self.alpha = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.norm(x.reshape(-1, x.shape[-1])).view_as(x))
        return p * x + (1.0 - p) * self.alpha * x


def activation(kind: Activation, dim: int) -> nn.Module:
    """An activation module of width ``dim``."""
    kind = Activation(kind)
    if kind == Activation.DICE:
        return Dice(dim)
    if kind == Activation.PRELU:
        return nn.PReLU(dim)
    return nn.ReLU() if kind == Activation.RELU else nn.Tanh()


def mlp(in_dim: int, hidden: tuple[int, ...], act: Activation, dropout: float = 0.0) -> nn.Sequential:
    """Linear → activation → dropout for each width in ``hidden`` (no output layer)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation(act, width)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*layers)
