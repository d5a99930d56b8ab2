"""Settings of the two training stages, ``mlm`` and ``contrastive``, and the parts they share.

Both stages run the same Ray Train driver (:mod:`gre_ray.wiring.train_driver`), so the
hardware (``scaling``), DeepSpeed (``deepspeed``), optimiser (``optim``), loop and sampler
settings are one set of dataclasses nested under each stage's section::

    contrastive:
      loss: gte
      scaling: {num_workers: 2}
      deepspeed: {zero_stage: 1, precision: fp32}
      optim: {lr: 5.0e-5, warmup_ratio: 0.1}
      loop: {epochs: 3, batch_size: 32}
      sampler: {mode: domain}

Each ``__post_init__`` raises ``ValueError`` for a bad value; the config loader turns it
into a ``ConfigError`` naming the section.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gre_ray.embed.pooling import Pooling  # one pooling selector for embedding and training
from gre_ray.shipped import SHIPPED
from gre_ray.tracking.config import TrackingBackend


class Precision(str, enum.Enum):
    """Training precision; bf16 and fp16 need GPUs (DeepSpeed on CPU trains in fp32)."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class SamplerMode(str, enum.Enum):
    """``domain``: every step's global batch comes from one domain; ``mixed``: any domains."""

    MIXED = "mixed"
    DOMAIN = "domain"


class LossName(str, enum.Enum):
    """Contrastive losses (one per file in ``gre_ray/train/losses``)."""

    INFONCE = "infonce"  # bidirectional InfoNCE (van den Oord 2018; CLIP, Radford 2021)
    GTE = "gte"  # improved contrastive loss (Li et al. 2023)
    GIST = "gist"  # guided in-sample selection of negatives (Solatorio 2024)


@dataclass
class ScalingSettings:
    """Workers of the Ray Train run.

    Attributes:
        num_workers: training workers; 0 runs the loop inside the driver process (no
            distribution, no failure recovery: for tests and debugging).
        use_gpu: one GPU per worker and NCCL; otherwise CPUs and gloo.
        cpus_per_worker: CPUs reserved per worker (also its torch threads).
    """

    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: int = 1

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ValueError(f"scaling.num_workers must be 0 or more, got {self.num_workers}")
        if self.cpus_per_worker < 1:
            raise ValueError(f"scaling.cpus_per_worker must be at least 1, got {self.cpus_per_worker}")


@dataclass
class DeepSpeedSettings:
    """DeepSpeed engine settings.

    Attributes:
        enabled: train through ``deepspeed.initialize``; false trains with plain torch DDP.
        zero_stage: ZeRO stage 0-3 (Rajbhandari et al. 2020); stage 3 checkpoints also
            carry consolidated weights.
        precision: fp32, bf16 or fp16 (the last two need ``scaling.use_gpu``).
    """

    enabled: bool = True
    zero_stage: int = 1
    precision: Precision = Precision.FP32

    def __post_init__(self) -> None:
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"deepspeed.zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if not self.enabled and self.precision is not Precision.FP32:
            raise ValueError("deepspeed.precision other than fp32 needs deepspeed.enabled: true")


@dataclass
class OptimSettings:
    """AdamW (Loshchilov & Hutter 2019) with linear warm-up then linear decay to zero.

    Attributes:
        lr: peak learning rate.
        weight_decay: decoupled weight decay (not applied to biases and LayerNorm weights).
        warmup_ratio: share of all optimiser steps spent warming up.
        grad_clip: maximum global gradient norm (0: no clipping).
        grad_accumulation: micro-batches per optimiser step.
        activation_checkpointing: recompute activations in the backward pass
            (Hugging Face ``gradient_checkpointing_enable``).
    """

    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    grad_accumulation: int = 1
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be positive, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"optim.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("optim.grad_clip and optim.weight_decay must not be negative")
        if self.grad_accumulation < 1:
            raise ValueError(f"optim.grad_accumulation must be at least 1, got {self.grad_accumulation}")


@dataclass
class LoopSettings:
    """Epochs, batches, held-out evaluation, early stopping, checkpoints and recovery.

    Attributes:
        epochs: passes over the training rows.
        batch_size: rows per worker per micro-batch (the global batch is this times the
            workers; gathered negatives span the global batch).
        max_steps_per_epoch: cap on micro-batches per epoch (None: as many as the data gives).
        seed: seed of the split, the sampler, the model head initialisation and masking.
        heldout_fraction: share of rows held out for evaluation (chosen by a hash of the
            row key and the seed, so it does not depend on row order).
        heldout_max: at most this many held-out rows are evaluated.
        patience: epochs without improvement of the held-out metric before stopping
            (0: never stop early).
        max_failures: worker failures Ray Train recovers from, each time restarting from
            the last reported checkpoint.
        resume_from: a Ray Train run folder (or one of its ``checkpoint_*`` folders) to
            resume from when the run itself has no checkpoint yet.
        keep_checkpoints: keep the Ray Train run folder (``<run>/_train/<stage>-<key>``)
            after the model is exported; by default it is removed once the stage succeeds
            (an interrupted run keeps it and resumes from it).
        fail_at_step: test-only: raise inside worker 0 at this global step on the first
            attempt, to exercise failure recovery.
    """

    epochs: int = 3
    batch_size: int = 32
    max_steps_per_epoch: int | None = None
    seed: int = 0
    heldout_fraction: float = 0.1
    heldout_max: int = 2000
    patience: int = 2
    max_failures: int = 2
    resume_from: str = ""
    keep_checkpoints: bool = False
    fail_at_step: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"loop.epochs must be >= 1 and loop.batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"loop.heldout_fraction must be in (0, 1), got {self.heldout_fraction}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError(f"loop.max_steps_per_epoch must be at least 1, got {self.max_steps_per_epoch}")
        if self.patience < 0 or self.max_failures < -1 or self.heldout_max < 1:
            raise ValueError("loop.patience >= 0, loop.max_failures >= -1 and loop.heldout_max >= 1 are required")


@dataclass
class SamplerSettings:
    """How rows are grouped into batches (see :mod:`gre_ray.train.sampling`).

    Attributes:
        mode: ``domain`` (every global batch from one domain: harder in-batch negatives)
            or ``mixed``.
        domain_weights: relative weight of each domain; a domain not named keeps weight
            1. Weights scale a domain's share of the rows drawn in each epoch; they never
            change between epochs.
    """

    mode: SamplerMode = SamplerMode.MIXED
    domain_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {d: w for d, w in self.domain_weights.items() if not w >= 0}
        if bad:
            raise ValueError(f"sampler.domain_weights must not be negative: {bad}")


@dataclass
class TrainSettings:
    """What both training stages share (embedded in their sections).

    ``tracking`` (``none``, ``mlflow``, ``wandb``), ``tracking_uri`` (MLflow; empty:
    ``<run.root>/mlruns``) and ``tracking_experiment``: where the epochs' held-out metrics
    are logged besides the manifest (:mod:`gre_ray.tracking.training`).
    """

    model: str = SHIPPED
    max_length: int = 64
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    deepspeed: DeepSpeedSettings = field(default_factory=DeepSpeedSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    tracking: TrackingBackend = TrackingBackend.NONE
    tracking_uri: str = ""
    tracking_experiment: str = "gre-training"

    def __post_init__(self) -> None:
        self.tracking = TrackingBackend(self.tracking)
        if self.max_length < 8:
            raise ValueError(f"max_length (in tokens) must be at least 8, got {self.max_length}")
        if not self.scaling.use_gpu and self.deepspeed.precision is not Precision.FP32:
            raise ValueError(
                f"deepspeed.precision {self.deepspeed.precision.value} needs GPUs (scaling.use_gpu: true); "
                "DeepSpeed on CPU trains in fp32"
            )


SIGNAL_K = 10  # the cut-off of gre_ray.train.signal's NDCG / recall
SELECT_METRICS = ("next_item_ndcg", "next_item_recall", "pair_auc")  # keys of gre_ray.train.signal.score_signal


@dataclass
class ContrastiveConfig(TrainSettings):
    """Settings of stage ``contrastive`` (fine-tuning on collaborative pairs).

    Attributes:
        model: base model (HF name or folder) when no ``backbone`` stage runs; ``minilm``:
            the shipped all-MiniLM-L6-v2.
        max_length: tokens per text (texts are truncated in tokens, never characters).
        loss: infonce, gte or gist.
        temperature: softmax temperature tau of the similarities.
        hard_negatives: mined negatives per pair from ``neg_texts`` (0: in-batch only).
        mask_duplicates: mask in-batch candidates that are the same item as the positive.
        gather_negatives: use every worker's batch as candidates (gradients flow back).
        guide_model: guide of the gist loss (empty: a frozen copy of the base model).
        pooling: mean or cls pooling of token states (``gre_ray.embed.pooling``); vectors
            are L2-normalised.
        recall_k: cut-off of the held-out text-to-text Recall@K.
        uniformity: weight of the uniformity term (Wang & Isola 2020) added to the loss,
            which keeps unrelated items apart (:mod:`gre_ray.train.losses.uniformity`).
        center: fold the mean vector of training-domain item texts out of the exported
            model's last LayerNorm bias (mean pooling only; :mod:`gre_ray.train.center`,
            Mu & Viswanath 2018), removing the shared direction fine-tuning adds.
        heldout_signal: measure next-item retrieval and pair AUC on the held-out users of
            the training domains (``pairs.heldout_users``) every epoch
            (:mod:`gre_ray.train.signal`) and select the best epoch and the WiSE-FT mix on
            its NDCG; without held-out users the held-out pairs' Recall@K selects.
        signal_max_users: held-out users scored per domain.
        signal_pool: the candidate pool each held-out user's next item is ranked in, per
            domain: every item when the domain has no more, else the users' queries and
            targets plus a seeded uniform sample of this many items
            (:mod:`gre_ray.train.signal_pool`); at least the signal's K (10).
        select_metric: the held-out users' metric that selects the epoch and the WiSE-FT
            mix: ``next_item_ndcg``, ``next_item_recall`` or ``pair_auc`` (the least noisy
            on a few hundred held-out users).
        wise_alphas: WiSE-FT mixes ``alpha`` (fine-tuned share of the weights, Wortsman
            et al. 2022, :mod:`gre_ray.train.wise`) tried after training; the best on the
            held-out signal is exported. ``[1.0]``: the fine-tuned weights as they are.
    """

    loss: LossName = LossName.GTE
    temperature: float = 0.05
    hard_negatives: int = 0
    mask_duplicates: bool = True
    gather_negatives: bool = True
    guide_model: str = ""
    pooling: Pooling = Pooling.MEAN
    recall_k: int = 10
    uniformity: float = 0.0
    center: bool = False
    heldout_signal: bool = True
    signal_max_users: int = 2000
    signal_pool: int = 100_000
    select_metric: str = "next_item_ndcg"
    wise_alphas: list[float] = field(default_factory=lambda: [1.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.wise_alphas or any(not 0.0 <= a <= 1.0 for a in self.wise_alphas):
            raise ValueError(f"wise_alphas must be a non-empty list of numbers in [0, 1], got {self.wise_alphas}")
        if self.center and self.pooling is not Pooling.MEAN:
            raise ValueError("center: true needs pooling: mean (the mean is folded into the last LayerNorm bias)")
        if self.uniformity < 0:
            raise ValueError(f"uniformity must not be negative, got {self.uniformity}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {', '.join(SELECT_METRICS)}, got {self.select_metric!r}")
        if self.signal_max_users < 1:
            raise ValueError(f"signal_max_users must be at least 1, got {self.signal_max_users}")
        if self.signal_pool < SIGNAL_K:
            raise ValueError(f"signal_pool must be at least {SIGNAL_K} (the held-out signal's NDCG@K), "
                             f"got {self.signal_pool}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.hard_negatives < 0 or self.recall_k < 1:
            raise ValueError("hard_negatives must be >= 0 and recall_k >= 1")


@dataclass
class MLMConfig(TrainSettings):
    """Settings of stage ``mlm`` (continued masked-language-model pre-training on the coreset).

    Attributes:
        model: the model to continue pre-training (``minilm``: the shipped all-MiniLM-L6-v2,
            whose checkpoint has no MLM head: a fresh head is initialised from ``loop.seed``).
        mlm_probability: share of tokens selected for masking (Devlin et al. 2019: 0.15).
    """

    mlm_probability: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")


def resolve_model(name: str, key: str = "model") -> str:
    """The local folder of a model name, the alias ``minilm`` or a path.

    Raises:
        ConfigError: naming ``key``, when the folder does not exist or is no model folder.
    """
    from gre_ray.embed.model_folder import resolve_model_dir
    from gre_ray.errors import ConfigError

    try:
        return str(resolve_model_dir(name))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
