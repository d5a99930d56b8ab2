"""Contrastive losses for pair fine-tuning, one per module, resolved by :class:`LossName`.

Pure torch (never Ray): each loss's ``compute_loss_from_embeddings`` is testable on tiny
tensors without an encoder, and negatives are gathered across workers through
``torch.distributed`` when a process group exists.
"""

from __future__ import annotations

from gre_ray.train.config import LossName
from gre_ray.train.losses.base import ContrastiveInputs, ContrastiveLoss, Embed
from gre_ray.train.losses.gist import GISTLoss
from gre_ray.train.losses.gte import GTEInfoNCELoss
from gre_ray.train.losses.infonce import BidirectionalInfoNCELoss

LOSSES: dict[LossName, type[ContrastiveLoss]] = {
    LossName.INFONCE: BidirectionalInfoNCELoss,
    LossName.GTE: GTEInfoNCELoss,
    LossName.GIST: GISTLoss,
}


def build_loss(
    name: LossName | str,
    *,
    temperature: float,
    gather_negatives: bool = True,
    mask_duplicates: bool = True,
    guide: Embed | None = None,
    uniformity: float = 0.0,
) -> ContrastiveLoss:
    """The loss ``name`` with its settings (``guide`` is used by the gist loss only)."""
    cls = LOSSES[LossName(name)]
    kwargs = {"temperature": temperature, "gather_negatives": gather_negatives, "mask_duplicates": mask_duplicates,
              "uniformity": uniformity}
    if cls is GISTLoss:
        return GISTLoss(guide=guide, **kwargs)
    return cls(**kwargs)


__all__ = [
    "LOSSES",
    "BidirectionalInfoNCELoss",
    "ContrastiveInputs",
    "ContrastiveLoss",
    "GISTLoss",
    "GTEInfoNCELoss",
    "build_loss",
]
