"""The torch device of work that Ray scheduled on a GPU, real or simulated.

Ray hands a task, actor or Train worker a GPU from its node's ``GPU`` resource; whether a
CUDA device is really there is torch's to say. On a real cluster a GPU-assigned piece of
work that finds none (a CPU build of torch, a missing driver) stops with
:class:`NoCudaDeviceError`: silently running on the CPU would make a GPU run look like a
slow one, or never finish.

The local autoscaling cluster (``cluster/local-autoscale.yaml``) simulates accelerator nodes
with a node type that advertises ``GPU`` resources on a machine without any. Started with
``GRE_RAY_SIMULATED_GPUS=1`` (inherited by every node, worker and job of that cluster), GPU-
assigned work runs on the CPU instead, with gloo instead of NCCL, so the whole cluster path
(autoscaling, placement, scheduling) can be tried on a laptop. The variable is meant for
that simulation only.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import torch

from gre_ray.errors import UserError

log = logging.getLogger("gre_ray")

SIMULATED_GPUS_ENV = "GRE_RAY_SIMULATED_GPUS"


class NoCudaDeviceError(UserError):
    """Work was given a GPU by Ray, but torch sees no CUDA device."""


def simulated_gpus() -> bool:
    """True on a simulated cluster (``GRE_RAY_SIMULATED_GPUS=1``): GPU-assigned work runs on the CPU."""
    return os.environ.get(SIMULATED_GPUS_ENV, "").strip().lower() in ("1", "true", "yes")


def gpu_device(what: str, cuda_device: Callable[[], object] | None = None):
    """The torch device of work that was given a GPU.

    Args:
        what: the work, for the message (``embed actor``, ``contrastive worker``).
        cuda_device: picks the CUDA device when there is one (Ray Train's ``get_device``);
            default ``cuda``.

    Returns:
        A CUDA device, or the CPU on a simulated cluster.

    Raises:
        NoCudaDeviceError: no CUDA device and no simulation.
    """
    if torch.cuda.is_available():
        return cuda_device() if cuda_device is not None else torch.device("cuda")
    if simulated_gpus():
        log.info("%s: simulated GPU (%s=1), running on the CPU", what, SIMULATED_GPUS_ENV)
        return torch.device("cpu")
    raise NoCudaDeviceError(
        f"{what} was given a GPU by Ray (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}) "
        f"but torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda or 'none'}); "
        "install a CUDA build of torch and the NVIDIA driver on GPU nodes"
    )


def node_id() -> str:
    """The Ray node this process runs on (empty outside Ray), recorded to show where work ran."""
    import sys

    if "ray" not in sys.modules:
        return ""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
