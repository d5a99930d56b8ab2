"""What the training loop trains: :class:`ContrastiveTask` (pairs) and :class:`MLMTask` (corpus)."""

from gre_ray.train.tasks.base import Task, check_encoder
from gre_ray.train.tasks.contrastive import ContrastiveTask
from gre_ray.train.tasks.mlm import MLMTask

__all__ = ["ContrastiveTask", "MLMTask", "Task", "check_encoder"]
