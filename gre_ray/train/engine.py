"""One training engine API over DeepSpeed or plain torch DDP: step, save, load, weights.

DeepSpeed (Rasley et al. 2020) with ZeRO (Rajbhandari et al. 2020) shards optimiser
states (stage 1), gradients (2) and parameters (3) across workers. The optimiser is a
torch AdamW with a linear warm-up/decay schedule passed to ``deepspeed.initialize``
(a DeepSpeed-config optimiser would JIT-compile a C++ op; a torch one works on CPU and
GPU alike). DeepSpeed is imported here, lazily, only inside the workers.

Checkpoints: ``save`` writes the full training state (DeepSpeed's sharded states: every
worker writes its own shard; DDP: worker 0 writes one file) and ``load`` restores it with
the same number of workers. A checkpoint lives in the run folder, which other people may
be able to write to, so ``load`` reads it with ``torch.load(weights_only=True)``: tensors,
containers and the few DeepSpeed types :func:`_deepspeed_safe_types` lists, never
arbitrary pickled objects (which could run code on the cluster). ``consolidated_state_dict`` gathers full fp32 weights for
export; under ZeRO-3 it is a collective every worker must call.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gre_ray.train.config import Precision, TrainSettings

def _deepspeed_safe_types() -> list[Any]:
    """The non-tensor types DeepSpeed writes into its checkpoints, allowed for a weights-only load."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


def _load_weights_only(path: str, map_location: Any = None) -> Any:
    """DeepSpeed's checkpoint-engine ``load`` with ``weights_only=True`` and its own types allowed."""
    with torch.serialization.safe_globals(_deepspeed_safe_types()):
        return torch.load(path, map_location=map_location, weights_only=True)


NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
TAG = "state"


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on every trainable weight except biases and norm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name.endswith(NO_DECAY) else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def linear_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the peak over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def deepspeed_config(settings: TrainSettings) -> dict[str, Any]:
    """The DeepSpeed config dict of ``settings`` (optimiser and scheduler come from torch)."""
    ds, optim = settings.deepspeed, settings.optim
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.zero_stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_micro_batch_size_per_gpu": settings.loop.batch_size,
        "gradient_accumulation_steps": optim.grad_accumulation,
        "gradient_clipping": optim.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": ds.precision is Precision.BF16},
        "fp16": {"enabled": ds.precision is Precision.FP16},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def ensure_process_group() -> None:
    """A one-process gloo group when none exists (DeepSpeed needs one; Ray Train's in-process mode has none).

    Sets the variables a launcher would (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_*``),
    which DeepSpeed reads.
    """
    if dist.is_initialized():
        return
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Not LOCAL_WORLD_SIZE: with all torchrun variables set, Ray Train's in-process mode would init its own group.
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    os.environ.update({**env, "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=0, world_size=1)
    # DeepSpeed caches a clone of the world group; a previous in-process run's group is gone.
    from deepspeed.utils import groups

    groups._WORLD_GROUP = None
    groups._ZERO_PARAM_INTRA_PARALLEL_GROUP = None


SHM_COMM_OP = "deepspeed_shm_comm"


def skip_inference_comm_op() -> None:
    """Keep DeepSpeed from JIT-compiling its shared-memory all-reduce op on CPU workers.

    On the CPU accelerator, DeepSpeed's communication backend compiles the C++ op
    ``deepspeed_shm_comm`` (about 30 s on two cores, again for every new virtual
    environment path) when it starts. The op serves only ``inference_all_reduce``
    (tensor-parallel inference); training's all-reduce, reduce-scatter and all-gather go
    through ``torch.distributed`` (gloo) either way. DeepSpeed asks its table of
    compatible ops before building, so marking the op incompatible there leaves training
    unchanged and skips the build. Call before ``deepspeed.initialize``.
    """
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__[SHM_COMM_OP] = False


class Engine:
    """A model being trained, behind DeepSpeed or DDP (or bare, in one process).

    Call it like the module; ``backward(loss)`` then ``step()`` after every micro-batch
    (accumulation, clipping and the schedule happen at accumulation boundaries).
    """

    def __init__(self, model: nn.Module, settings: TrainSettings, total_steps: int, device: torch.device) -> None:
        self.settings = settings
        self.device = device
        optim = settings.optim
        model = model.to(device)
        optimizer = build_optimizer(model, optim.lr, optim.weight_decay)
        scheduler = linear_schedule(optimizer, int(optim.warmup_ratio * total_steps), total_steps)
        self.deepspeed = settings.deepspeed.enabled
        self.micro_step = 0
        if self.deepspeed:
            import deepspeed

            skip_inference_comm_op()
            ensure_process_group()
            self.wrapped, self.optimizer, _, self.scheduler = deepspeed.initialize(
                model=model, optimizer=optimizer, lr_scheduler=scheduler, config=deepspeed_config(settings)
            )
            self.module = self.wrapped.module
            return
        self.module, self.optimizer, self.scheduler = model, optimizer, scheduler
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.wrapped = nn.parallel.DistributedDataParallel(model) if distributed else model

    def __call__(self, *args, **kwargs):
        return self.wrapped(*args, **kwargs)

    def train(self) -> None:
        self.wrapped.train()

    def eval(self) -> None:
        self.wrapped.eval()

    def backward(self, loss: Tensor) -> None:
        if self.deepspeed:
            self.wrapped.backward(loss)
        else:
            (loss / self.settings.optim.grad_accumulation).backward()

    def step(self) -> None:
        """Advance one micro-batch; update the weights at accumulation boundaries."""
        self.micro_step += 1
        if self.deepspeed:
            self.wrapped.step()
            return
        if self.micro_step % self.settings.optim.grad_accumulation:
            return
        if self.settings.optim.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.module.parameters(), self.settings.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def save(self, folder: str, rank: int) -> None:
        """Write the training state (weights, optimiser, schedule) under ``folder``."""
        os.makedirs(folder, exist_ok=True)
        if self.deepspeed:
            self.wrapped.save_checkpoint(folder, tag=TAG, client_state={"micro_step": self.micro_step})
        elif rank == 0:
            state = {
                "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "micro_step": self.micro_step,
            }
            torch.save(state, os.path.join(folder, "trainer.pt"))

    def load(self, folder: str) -> None:
        """Restore the state :meth:`save` wrote (with the same number of workers)."""
        if self.deepspeed:
            self.wrapped.checkpoint_engine.load = _load_weights_only  # DeepSpeed's own load unpickles anything
            _, client = self.wrapped.load_checkpoint(folder, tag=TAG)
            self.micro_step = int((client or {}).get("micro_step", 0))
            return
        state = torch.load(os.path.join(folder, "trainer.pt"), map_location=self.device, weights_only=True)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.micro_step = int(state["micro_step"])

    def consolidated_state_dict(self) -> dict[str, Tensor]:
        """Full fp32 weights of the module on CPU (a collective under ZeRO-3: call on every worker)."""
        if self.deepspeed and self.settings.deepspeed.zero_stage == 3:
            state = self.wrapped._zero3_consolidated_16bit_state_dict() or {}
        else:
            state = self.module.state_dict()
        return {k: (v.float() if v.is_floating_point() else v).detach().cpu() for k, v in state.items()}
