"""Settings of collaborative pair mining (the ``pairs`` section of a run config).

Every selector is a ``str`` Enum, every mistake a ``ValueError`` raised in
``__post_init__`` (the config loader turns it into a ``ConfigError`` naming the section).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CoocScore(str, enum.Enum):
    """How a co-occurrence count becomes a collaborative score (see :mod:`gre_ray.pairs.scores`)."""

    COSINE = "cosine"  # |U_i ∩ U_j| / sqrt(|U_i| |U_j|), GRE's item–item cosine
    SWING = "swing"  # Yang et al. 2020, user pairs weighted by 1 / (alpha + |I_u ∩ I_v|)
    PMI = "pmi"  # log(|U_i ∩ U_j| N / (|U_i| |U_j|))


class ThresholdMode(str, enum.Enum):
    """How a threshold is set for each domain."""

    FIXED = "fixed"  # ``value`` (or ``per_domain[domain]``)
    QUANTILE = "quantile"  # the ``value``-quantile of the domain's candidate pairs
    TARGET_COUNT = "target_count"  # the score that keeps ``target_pairs`` pairs (collaborative only)


@dataclass
class ThresholdConfig:
    """One threshold, fixed or chosen per domain from the data.

    Attributes:
        mode: fixed, quantile or target_count.
        value: the threshold itself (fixed) or the quantile in [0, 1] (quantile).
        per_domain: fixed thresholds for named domains; they win over ``value`` in any
            mode, so a domain can be pinned while the others are chosen automatically.
        target_pairs: pairs to keep per domain (target_count).
    """

    mode: ThresholdMode = ThresholdMode.QUANTILE
    value: float = 0.0
    per_domain: dict[str, float] = field(default_factory=dict)
    target_pairs: int = 1000

    def __post_init__(self) -> None:
        if self.mode == ThresholdMode.QUANTILE and not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a quantile threshold needs value in [0, 1], got {self.value}")
        if self.target_pairs < 1:
            raise ValueError(f"target_pairs must be at least 1, got {self.target_pairs}")


@dataclass
class PairsConfig:
    """Settings of the ``pairs`` stage.

    Attributes:
        seed: seed of the per-user and per-item sampling.
        train_domains_only: mine only domains whose role is ``train`` in the ``domains``
            artifact (GRE trains on its training domains and keeps the benchmark apart).
        window: count a pair when the two items are at most this many positions apart in
            the user's time-ordered sequence; None counts every pair of the sequence.
        max_items_per_user: a longer history is cut to this many items, sampled without
            replacement with a seeded RNG (time order kept), so one user cannot dominate.
        score: the collaborative score.
        swing_alpha: Swing's smoothing term alpha.
        swing_user_power: Swing user weight |I_u|^-power (0: unweighted).
        swing_max_users_per_item: Swing samples at most this many users of an item, which
            bounds its cost (quadratic in the users of an item).
        min_support: a pair needs at least this many users.
        top_k: a pair is a candidate when it is among the ``top_k`` best-scored partners of
            either of its items (None: no limit).
        cooc_threshold: threshold of the collaborative score.
        text_threshold: threshold of the guide-model text similarity (quantile or fixed;
            target_count is for the collaborative score only).
        num_negatives: hard negatives per kept pair (0: none).
        negative_max_sim: a neighbour more similar to the anchor than this is taken for a
            duplicate or a false negative and skipped.
        negative_exact_max_items: exact neighbour search up to this many items in a
            domain; approximate (faiss IVF) beyond.
        negative_nprobe: IVF lists searched per anchor in approximate search.
        rows_per_shard: interactions per Ray task when counting (users are never split; at
            most 4 counting tasks per cluster CPU).
        pair_shards: shards that sum, score and write the counted pairs, each owning the
            pairs of a hash range (None: one per million interactions, 2 to 64, whatever
            the cluster: they fix the written folder's row order).
        key_holders: long-lived actors that hold the co-occurring pair keys for the
            hard-negative filter, several pair shards each (None: one per cluster CPU, at
            most ``pair_shards``); bounds the processes and spreads the keys' memory.
        heldout_users: share of each domain's users (a hash of domain, user and ``seed``)
            whose interactions are never mined: stage ``contrastive`` scores next-item
            retrieval on them (:mod:`gre_ray.train.signal`) to select epochs and the
            WiSE-FT mix without benchmark data.
    """

    seed: int = 0
    train_domains_only: bool = True
    window: int | None = None
    max_items_per_user: int = 200
    score: CoocScore = CoocScore.COSINE
    swing_alpha: float = 1.0
    swing_user_power: float = 0.5
    swing_max_users_per_item: int = 500
    min_support: int = 2
    top_k: int | None = 10
    cooc_threshold: ThresholdConfig = field(
        default_factory=lambda: ThresholdConfig(mode=ThresholdMode.QUANTILE, value=0.75)
    )
    text_threshold: ThresholdConfig = field(
        default_factory=lambda: ThresholdConfig(mode=ThresholdMode.QUANTILE, value=0.05)
    )
    num_negatives: int = 4
    negative_max_sim: float = 0.95
    negative_exact_max_items: int = 100_000
    negative_nprobe: int = 8
    rows_per_shard: int = 1_000_000
    pair_shards: int | None = None
    key_holders: int | None = None
    heldout_users: float = 0.0

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be at least 1 (or null for whole sequences), got {self.window}")
        if self.max_items_per_user < 2:
            raise ValueError(f"max_items_per_user must be at least 2, got {self.max_items_per_user}")
        if self.swing_alpha <= 0:
            raise ValueError(f"swing_alpha must be positive, got {self.swing_alpha}")
        if self.swing_user_power < 0:
            raise ValueError(f"swing_user_power must be non-negative, got {self.swing_user_power}")
        if self.swing_max_users_per_item < 2:
            raise ValueError(f"swing_max_users_per_item must be at least 2, got {self.swing_max_users_per_item}")
        if self.min_support < 1:
            raise ValueError(f"min_support must be at least 1, got {self.min_support}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be at least 1 (or null for no limit), got {self.top_k}")
        if self.text_threshold.mode == ThresholdMode.TARGET_COUNT:
            raise ValueError("text_threshold.mode target_count is not supported; use quantile or fixed")
        if self.num_negatives < 0:
            raise ValueError(f"num_negatives must be non-negative, got {self.num_negatives}")
        if not -1.0 < self.negative_max_sim <= 1.0:
            raise ValueError(f"negative_max_sim must be in (-1, 1], got {self.negative_max_sim}")
        if self.negative_exact_max_items < 1 or self.negative_nprobe < 1:
            raise ValueError("negative_exact_max_items and negative_nprobe must be at least 1")
        if self.rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be at least 1, got {self.rows_per_shard}")
        if not 0.0 <= self.heldout_users < 1.0:
            raise ValueError(f"heldout_users must be in [0, 1), got {self.heldout_users}")
        if self.pair_shards is not None and self.pair_shards < 1:
            raise ValueError(f"pair_shards must be at least 1 (or null for automatic), got {self.pair_shards}")
        if self.key_holders is not None and self.key_holders < 1:
            raise ValueError(f"key_holders must be at least 1 (or null for automatic), got {self.key_holders}")
