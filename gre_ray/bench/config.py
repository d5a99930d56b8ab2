"""Settings of the ``benchmark`` stage (GRE-B): which datasets, models, embeddings and seeds.

The grid is the product ``datasets × models × ({ID-only} ∪ embeddings × fusions) × seeds``;
every trial trains one recommender on one saved split (see :mod:`gre_ray.bench.trials`).
Training, split and model settings are the recommender package's own dataclasses, so a key
means the same thing here as in :mod:`gre_ray.recsys`.
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from gre_ray.embed.config import EncoderConfig, EndpointConfig
from gre_ray.errors import ConfigError
from gre_ray.recsys.fusion_config import FusionMode
from gre_ray.recsys.metric_table import METRICS, REPORTED
from gre_ray.recsys.models.config import ModelName, parse_model_config
from gre_ray.recsys.splits import SplitConfig, SplitKind
from gre_ray.recsys.text_vectors import MissingPolicy, Reduction
from gre_ray.recsys.train_config import TrainConfig, TrainPositions
from gre_ray.tracking.config import TrackingBackend

ID_ONLY = "id"  # the embedding name of ID-only trials (fusion ``none``)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")


class SearchScheduler(str, enum.Enum):
    """How search mode explores its grid: every point to the end, or ASHA early stopping."""

    GRID = "grid"
    ASHA = "asha"


@dataclass
class EmbeddingModel:
    """One text embedding model under test.

    Attributes:
        name: its short name in trial names, tables and plots (letters, digits, ``_``, ``.``;
            ``id`` is reserved for ID-only runs).
        encoder: the embedding stage's encoder settings (model, pooling, max_length, prefix);
            unset fields take the model folder's own settings.
        artifact: take the model from this run's artifact of that name instead of
            ``encoder.model`` (``model``: the GRE model that stage ``contrastive`` trained).
        vectors: a folder of precomputed vectors, ``<dataset>.parquet`` with ``item_id``
            and ``vector`` (:mod:`gre_ray.embed.precomputed`); ``encoder.dim`` and
            ``encoder.normalize`` still apply.
        endpoint: an OpenAI-compatible ``/v1/embeddings`` endpoint that computes the
            vectors (:mod:`gre_ray.embed.endpoint`); ``encoder.prefix``, ``dim`` and
            ``normalize`` apply.
        trained_on: datasets the model's training saw (unset: the ``datasets:`` of its model
            card, which this project's training stage fills); rows on those datasets are
            flagged in the report (:mod:`gre_ray.bench.identity`).

    Normalisation is one rule for every kind (model, artifact, vectors, endpoint): the
    vectors are L2-normalised (after the Matryoshka cut) unless ``encoder.normalize: false``
    is stated, whatever a model folder's own modules say; the choice is part of every
    embedding's key, so one model benched two ways gets one result.
    """

    name: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    artifact: str = ""
    vectors: str = ""
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    trained_on: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name) or self.name == ID_ONLY:
            raise ValueError(
                f"embedding name {self.name!r} must be letters, digits, '_' or '.', and not {ID_ONLY!r}"
            )
        if sum(map(bool, (self.artifact, self.vectors, self.endpoint.url))) > 1:
            raise ValueError(f"embedding {self.name!r}: give at most one of artifact, vectors and endpoint")
        if self.encoder.normalize is None:  # one rule for every kind (see above), so in every key
            self.encoder = replace(self.encoder, normalize=True)

    @property
    def source(self) -> str:
        """``vectors``, ``endpoint``, ``artifact`` or ``encoder``: where the vectors come from."""
        return "vectors" if self.vectors else "endpoint" if self.endpoint.url else (
            "artifact" if self.artifact else "encoder")


VECTORS_PREFIX = "vectors:"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")


def slug(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_`` and ``.`` as ``_``."""
    return _UNSAFE.sub("_", str(text)).strip("_") or "_"


def model_name(text: str) -> str:
    """A leaderboard name for a model id, folder or URL (its last part, file-safe, lower case)."""
    base = posixpath.basename(text.rstrip("/")) or text
    name = slug(base).lower().strip("._") or "model"
    return name if name[0].isalnum() and name != "id" else f"m_{name}"


def resolve_model(text: str, known: list[EmbeddingModel], encoder: dict[str, Any] | None = None,
                  api_key_env: str | None = None) -> EmbeddingModel:
    """The embedding model ``text`` names, the way a user has it at hand.

    * a name of ``known`` (the config's ``benchmark.embeddings``): that entry;
    * ``vectors:FOLDER``: precomputed vectors, ``FOLDER/<dataset>.parquet``;
    * ``http(s)://HOST/v1#MODEL``: an OpenAI-compatible embeddings endpoint serving ``MODEL``;
    * anything else (``minilm``, a model folder, a Hugging Face Hub id): an encoder model.

    Args:
        text: the name on the command line.
        known: the config's embeddings.
        encoder: encoder settings from the command line (prefix, dim, dtype, backend,
            pooling, max_length, trust_remote_code, ...).
        api_key_env: the variable holding an endpoint's key (unset: ``OPENAI_API_KEY``).
    """
    encoder = {k: v for k, v in (encoder or {}).items() if v not in (None, "", False)}
    suffix = f"_d{encoder['dim']}" if encoder.get("dim") else ""  # a truncated model is another model
    for model in known:
        if model.name == text:
            if api_key_env and model.endpoint.url:
                model = replace(model, endpoint=replace(model.endpoint, api_key_env=api_key_env))
            return replace(model, name=model.name + suffix,
                                       encoder=replace(model.encoder, **encoder)) if encoder else model
    if text.startswith(VECTORS_PREFIX):
        folder = text[len(VECTORS_PREFIX):]
        return EmbeddingModel(name=model_name(folder) + suffix, vectors=folder, encoder=EncoderConfig(**encoder))
    if text.startswith(("http://", "https://")):
        url, _, served = text.partition("#")
        if not served:
            raise ConfigError(f"bench: endpoint {text!r} needs the served model after '#', e.g. {url}#my-model")
        return EmbeddingModel(name=model_name(served) + suffix, encoder=EncoderConfig(**encoder),
                              endpoint=EndpointConfig(url=url, model=served, api_key_env=api_key_env or ""))
    return EmbeddingModel(name=model_name(text) + suffix, encoder=EncoderConfig(model=text, **encoder))


@dataclass
class ResourceSettings:
    """What one trial gets and how the grid is scheduled.

    Attributes:
        cpus: CPUs per trial.
        gpus: GPUs per trial; a fraction packs several trials on one GPU.
        max_concurrent_trials: trials running at once; ``auto`` (or 0): as many as the
            cluster's CPUs and GPUs hold at ``cpus``/``gpus`` each, so a bigger machine
            runs more at once.
        reuse_actors: run successive trials in the same actor (cuts ~4 s per trial to ~0.05 s).
        max_failures: retries of a crashed trial before it is recorded as failed.
        restart_errored: when an interrupted grid is restored, run again the trials that
            had failed (by default only unfinished ones run; finished ones never do).
        torch_threads: torch threads inside a trial (one per CPU is fastest on small models).
    """

    cpus: float = 1.0
    gpus: float = 0.0
    max_concurrent_trials: int | Literal["auto"] = "auto"
    reuse_actors: bool = True
    max_failures: int = 1
    restart_errored: bool = False
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.cpus <= 0 or self.gpus < 0:
            raise ValueError(f"cpus must be positive and gpus non-negative, got {self.cpus} and {self.gpus}")
        if self.trial_cap_or_zero < 0 or self.max_failures < 0 or self.torch_threads < 1:
            raise ValueError("max_concurrent_trials must be auto or >= 0, max_failures >= 0, torch_threads >= 1")

    @property
    def trial_cap_or_zero(self) -> int:
        """``max_concurrent_trials`` as a number, 0 for ``auto``."""
        return 0 if self.max_concurrent_trials == "auto" else int(self.max_concurrent_trials)

    @property
    def trial_cap(self) -> int | None:
        """Tune's ``max_concurrent_trials``: None for ``auto`` (Tune then starts as many trials as
        the cluster's resources hold)."""
        return self.trial_cap_or_zero or None

    @property
    def device(self) -> str:
        return "cuda" if self.gpus > 0 else "cpu"


@dataclass
class SearchSettings:
    """Optional tuning of lr and dim per (dataset, model), on validation only.

    Attributes:
        enabled: run the search before the grid; the grid then uses each pair's best point.
        scheduler: ``grid`` (every point trains to the end) or ``asha`` (early stopping).
        lr: learning rates to try.
        dim: embedding widths to try.
        embedding: the variant searched on (``id``: ID-only; or an embedding name).
        seed: the training seed of search trials.
        grace_period: ASHA's minimum epochs before a trial may be stopped.
        reduction_factor: ASHA's halving rate.
    """

    enabled: bool = False
    scheduler: SearchScheduler = SearchScheduler.GRID
    lr: list[float] = field(default_factory=lambda: [1e-3, 3e-3])
    dim: list[int] = field(default_factory=lambda: [32, 64])
    embedding: str = ID_ONLY
    seed: int = 0
    grace_period: int = 2
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        self.scheduler = SearchScheduler(self.scheduler)
        if not self.lr or not self.dim or min(self.lr) <= 0 or min(self.dim) < 1:
            raise ValueError("search.lr and search.dim must be non-empty lists of positive values")
        if self.grace_period < 1 or self.reduction_factor < 2:
            raise ValueError("search.grace_period must be >= 1 and reduction_factor >= 2")


@dataclass
class ModelTrainSettings:
    """One model's overrides of ``benchmark.train`` (unset: the shared value).

    Ranking models learn from many cheap samples (DIN/DeepFM: batch ~1024-2048), SASRec
    from a few sequences (batch 128, Kang & McAuley 2018), so one shared block fits none.
    The merged settings are part of each trial's spec (and so of its key).
    """

    lr: float | None = None
    batch_size: int | None = None
    max_epochs: int | None = None
    patience: int | None = None
    weight_decay: float | None = None
    positions: TrainPositions | None = None
    train_stride: int | None = None

    def __post_init__(self) -> None:
        if self.positions is not None:
            self.positions = TrainPositions(self.positions)

    def apply(self, train: TrainConfig) -> TrainConfig:
        """``train`` with the fields set here replaced."""
        return replace(train, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None})


@dataclass
class SplitSettings:
    """The splits every trial of a dataset shares (one per task, computed once, saved).

    Attributes:
        retrieval: leave-one-out split of SASRec and DSSM.
        ranking: split of DIN and DeepFM (sampled negatives, ``ranking_implicit``).
        explicit: datasets whose ranking split labels by rating (``ranking_explicit``,
            Goodreads/Yelp style) instead of sampling negatives.
    """

    retrieval: SplitConfig = field(default_factory=SplitConfig)
    ranking: SplitConfig = field(default_factory=lambda: SplitConfig(kind=SplitKind.RANKING_IMPLICIT))
    explicit: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.retrieval.kind != SplitKind.RETRIEVAL:
            raise ValueError(f"split.retrieval.kind must be retrieval, got {self.retrieval.kind.value}")
        if self.ranking.kind == SplitKind.RETRIEVAL:
            raise ValueError("split.ranking.kind must be a ranking protocol")


@dataclass
class BenchmarkConfig:
    """Settings of the ``benchmark`` stage.

    Attributes:
        datasets: domains to benchmark, by name (empty: every domain whose role is
            ``benchmark``); a name the data does not hold stops the stage before any trial.
        models: downstream recommenders.
        embeddings: text embedding models under test.
        id_only: also run every model without text (the reference of the gains).
        fusions: how text vectors enter the item representation (``add``, ``concat``,
            ``text_only``).
        seeds: training seeds; every seed sees the same split.
        base_embedding: the embedding the others are compared to (empty: the first).
        missing_text: ``error`` or ``zero`` for items without an embedding.
        text_reduce: ``none``, ``pca`` (centre, keep the top components) or ``whiten``
            (PCA-whitening, BERT-whitening of Su et al. 2021), fitted per dataset on its
            items' vectors and applied to every embedding model alike. Centring matters
            for anisotropic embeddings, whose vectors share one dominant direction
            (unrelated items at cosine 0.6–0.8 for the demo-trained GRE), so the linear projection
            sees mostly that common part.
        text_reduce_dim: components kept by ``pca``/``whiten`` (unset: all there are, at
            most the dataset's item count; set, it must not exceed the smallest dataset's).
        train: optimisation, early stopping and evaluation (``seed`` and ``device`` are set
            per trial).
        models_params: per-model hyper-parameters, e.g. ``{sasrec: {dim: 64, n_blocks: 2}}``;
            each model's keys and values are checked against its config dataclass at load.
        models_train: per-model overrides of ``train``, e.g. ``{din: {batch_size: 2048}}``.
        split: the shared splits.
        resources: per-trial resources, concurrency and retries.
        search: optional lr / dim search on validation.
        metrics: metrics shown in the leaderboard and report (the first of each task is
            its headline metric: ``ndcg@10`` and ``auc``).
        embed_actors: encoder actors computing missing embeddings (unset: one per CPU,
            or per GPU share).
        embed_gpus: GPUs per encoder actor.
        tracking: ``none``, ``mlflow`` (one run per trial; no server needed) or ``wandb``.
        tracking_uri: MLflow tracking URI or folder (empty: ``<run.root>/mlruns``).
        tracking_experiment: the MLflow experiment / W&B project.
    """

    datasets: list[str] = field(default_factory=list)
    models: list[ModelName] = field(default_factory=lambda: list(ModelName))
    embeddings: list[EmbeddingModel] = field(default_factory=lambda: [EmbeddingModel(name="minilm")])
    id_only: bool = True
    fusions: list[FusionMode] = field(default_factory=lambda: [FusionMode.ADD])
    seeds: list[int] = field(default_factory=lambda: [0])
    base_embedding: str = ""
    missing_text: MissingPolicy = MissingPolicy.ERROR
    text_reduce: Reduction = Reduction.NONE
    text_reduce_dim: int | None = None
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_epochs=50, patience=5))
    models_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    models_train: dict[str, ModelTrainSettings] = field(default_factory=dict)
    split: SplitSettings = field(default_factory=SplitSettings)
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    metrics: list[str] = field(default_factory=lambda: list(REPORTED))
    embed_actors: int | None = None
    embed_gpus: float = 0.0
    tracking: TrackingBackend = TrackingBackend.NONE
    tracking_uri: str = ""
    tracking_experiment: str = "gre-b"

    def __post_init__(self) -> None:
        self.tracking = TrackingBackend(self.tracking)
        self.models = [ModelName(m) for m in self.models]
        self.fusions = [FusionMode(f) for f in self.fusions]
        self.missing_text = MissingPolicy(self.missing_text)
        self.text_reduce = Reduction(self.text_reduce)
        if self.text_reduce_dim is not None and self.text_reduce_dim < 1:
            raise ValueError(f"text_reduce_dim must be at least 1, got {self.text_reduce_dim}")
        for key in ("datasets", "models", "seeds"):
            values = [str(getattr(v, "value", v)) for v in getattr(self, key)]
            if len(set(values)) != len(values):
                raise ValueError(f"{key} lists a value twice: {values}")
        if not self.models or not self.seeds:
            raise ValueError("models and seeds must not be empty")
        if not self.embeddings and not self.id_only:
            raise ValueError("nothing to run: no embeddings and id_only is false")
        names = [e.name for e in self.embeddings]
        if len(set(names)) != len(names):
            raise ValueError(f"embedding names must be unique, got {names}")
        if self.embeddings and FusionMode.NONE in self.fusions:
            raise ValueError("fusions: 'none' is the ID-only run; set id_only instead")
        if self.embeddings and not self.fusions:
            raise ValueError("fusions must not be empty when embeddings are listed")
        if self.base_embedding and self.base_embedding not in names:
            raise ValueError(f"base_embedding {self.base_embedding!r} is not one of the embeddings {names}")
        if self.search.embedding != ID_ONLY and self.search.embedding not in names:
            raise ValueError(f"search.embedding {self.search.embedding!r} is neither {ID_ONLY!r} nor an embedding")
        valid = {m.value for m in ModelName}
        for name, params in self.models_params.items():
            if name not in valid:
                raise ValueError(f"models_params: unknown model {name!r} (valid: {', '.join(sorted(valid))})")
            parse_model_config(name, params, f"benchmark.models_params.{name}")
        for name, settings in self.models_train.items():
            if name not in valid:
                raise ValueError(f"models_train: unknown model {name!r} (valid: {', '.join(sorted(valid))})")
            if isinstance(settings, dict):
                self.models_train[name] = settings = ModelTrainSettings(**settings)
            settings.apply(self.train)  # the merged settings must be valid too
        known = list(METRICS)
        unknown = [m for m in self.metrics if m not in known]
        if unknown or not self.metrics:
            raise ValueError(f"metrics: unknown {unknown or 'empty list'} (valid: {', '.join(known)})")
        for dataset in self.datasets:
            if not dataset or "/" in dataset:
                raise ValueError(f"dataset names must be non-empty without '/', got {dataset!r}")

    def train_for(self, model: str | ModelName) -> TrainConfig:
        """The training settings of ``model``: ``train`` with its ``models_train`` overrides;
        SASRec trains every position (``all``) unless ``models_train.sasrec.positions`` is set."""
        settings = self.models_train.get(ModelName(model).value)
        train = settings.apply(self.train) if settings is not None else self.train
        if ModelName(model) == ModelName.SASREC and (settings is None or settings.positions is None):
            train = replace(train, positions=TrainPositions.ALL)  # SASRec's strong default (docs/recsys.md)
        return train

    @property
    def base(self) -> str:
        """The name of the base embedding model (the first when unset; empty without embeddings)."""
        return self.base_embedding or (self.embeddings[0].name if self.embeddings else "")

    def variants(self) -> list[tuple[str, FusionMode]]:
        """(embedding name, fusion) of every variant a model runs, ID-only first."""
        out = [(ID_ONLY, FusionMode.NONE)] if self.id_only else []
        out += [(e.name, f) for e in self.embeddings for f in self.fusions]
        return out
