"""Seeded generator of multi-domain recommendation data with planted structure.

The demo data stands in for GRE's corpus and GRE-B's datasets where no real data can be
downloaded. Twelve domains (``vocabulary.yaml``), two per GRE-B scenario: one used to
train GRE, one held out for the benchmark, as GRE keeps its training data apart from
its benchmark.

Items are titled and described in real words drawn from their category. Users follow a
simple generative story that gives both kinds of signal GRE cares about:

* **text-predictable** co-consumption: users have preferences over categories (Dirichlet)
  and often move to another item of the same category, whose text shares words;
* **collaborative-only** co-consumption: each item has a *partner* in the complementary
  category (a tent → a sleeping bag), which users often consume next although the texts
  share few words. A general text model cannot see this relation; fine-tuning on mined
  co-consumption pairs can learn it. The partners are the ground truth for pair mining.

Each benchmark domain shares one of its three complementary category pairs with its
training sibling (same kinds of products under other brands, with their own items and
partners): knowledge GRE can carry from its training domains to an unseen dataset. The
other two pairs are the benchmark domain's own.

Everything is drawn from ``numpy.random.Generator`` seeded by (seed, domain), so a domain's
data does not depend on which other domains are generated or in which order.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from gre_ray.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from gre_ray.data.seeds import domain_seed

DAY = 86_400
START_TIME = 1_577_836_800  # 2020-01-01 UTC


class DemoSize(str, enum.Enum):
    """Preset sizes: per-domain users and items."""

    TINY = "tiny"  # unit tests: ~5k interactions in all
    DEMO = "demo"  # make demo: ~80k interactions, the whole pipeline in minutes on 2 cores
    LARGE = "large"  # scale benchmarks: ~7M interactions


SIZE_PRESETS: dict[DemoSize, tuple[int, int]] = {
    DemoSize.TINY: (40, 36),
    DemoSize.DEMO: (500, 240),
    DemoSize.LARGE: (50_000, 12_000),
}


@dataclass
class DemoDataConfig:
    """Settings of the demo data generator.

    Attributes:
        seed: base seed; each domain derives its own from it and its name.
        size: preset of users and items per domain.
        users_per_domain: overrides the preset's user count when set.
        items_per_domain: overrides the preset's item count when set.
        mean_history: mean number of interactions per user (at least ``min_history``).
        min_history: every user has at least this many interactions.
        p_complement: probability that the next item is the partner of the current one.
        p_similar: probability that the next item is from the current item's category.
        preference_concentration: Dirichlet concentration of user category preferences
            (small: users stick to few categories).
        tie_rate: share of consecutive interactions with the same timestamp (real data
            has day-resolution timestamps; stages must order ties stably).
        domains: domains to generate (empty: all twelve).
    """

    seed: int = 0
    size: DemoSize = DemoSize.DEMO
    users_per_domain: int | None = None
    items_per_domain: int | None = None
    mean_history: float = 12.0
    min_history: int = 5
    p_complement: float = 0.3
    p_similar: float = 0.35
    preference_concentration: float = 0.4
    tie_rate: float = 0.05
    domains: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.p_complement <= 1 or not 0 <= self.p_similar <= 1:
            raise ValueError("p_complement and p_similar must be probabilities")
        if self.p_complement + self.p_similar > 1:
            raise ValueError(f"p_complement + p_similar = {self.p_complement + self.p_similar} exceeds 1")
        if self.min_history < 3:
            raise ValueError(f"min_history must be at least 3 (leave-one-out needs train, valid, test), got {self.min_history}")
        if self.mean_history < self.min_history:
            raise ValueError(f"mean_history ({self.mean_history}) is below min_history ({self.min_history})")
        unknown = sorted(set(self.domains) - set(vocabulary()))
        if unknown:
            raise ValueError(f"unknown demo domain(s) {', '.join(unknown)} (known: {', '.join(vocabulary())})")
        for name, value in (("users_per_domain", self.users_per_domain), ("items_per_domain", self.items_per_domain)):
            if value is not None and value < 12:
                raise ValueError(f"{name} must be at least 12, got {value}")

    def counts(self) -> tuple[int, int]:
        """(users, items) per domain after presets and overrides."""
        users, items = SIZE_PRESETS[self.size]
        return self.users_per_domain or users, self.items_per_domain or items

    def domain_names(self) -> list[str]:
        return list(self.domains) or list(vocabulary())


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    """The domains, categories and words of ``vocabulary.yaml``."""
    text = resources.files("gre_ray.demo").joinpath("vocabulary.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass
class DomainData:
    """One generated domain: its tables and its ground truth."""

    domain: str
    scenario: str
    role: str
    items: pa.Table
    interactions: pa.Table
    item_category: np.ndarray  # (n_items,) category index of each item
    partner: np.ndarray  # (n_items,) index of each item's complementary partner
    categories: list[str]


def generate_domain(config: DemoDataConfig, domain: str) -> DomainData:
    """Generate the items and interactions of one domain."""
    spec = vocabulary()[domain]
    rng = np.random.default_rng(domain_seed(config.seed, domain))
    n_users, n_items = config.counts()
    categories = list(spec["categories"])
    item_category = np.arange(n_items) % len(categories)
    rng.shuffle(item_category)

    titles, texts, raws = [], [], []
    for idx in range(n_items):
        title, description, raw = _item_text(spec, categories[item_category[idx]], rng)
        titles.append(title)
        texts.append(f"{title}. {description}")
        raws.append(json.dumps(raw, sort_keys=True))
    item_ids = [f"{domain}-i{idx:06d}" for idx in range(n_items)]

    partner = _partners(spec, categories, item_category, rng)
    popularity = rng.zipf(1.6, n_items).clip(max=50).astype(np.float64)
    user_idx, item_idx, timestamps, ratings = _sequences(config, categories, item_category, partner, popularity, n_users, rng)

    items = pa.Table.from_arrays(
        [
            pa.array([domain] * n_items, pa.string()),
            pa.array(item_ids, pa.string()),
            pa.array(texts, pa.string()),
            pa.array(titles, pa.string()),
            pa.array(raws, pa.string()),
        ],
        schema=ITEMS_SCHEMA,
    )
    interactions = pa.Table.from_arrays(
        [
            pa.array(np.full(len(item_idx), domain, dtype=object), pa.string()),
            pa.array(np.char.add(f"{domain}-u", np.char.zfill(user_idx.astype(str), 7)), pa.string()),
            pa.array(np.asarray(item_ids, dtype=object)[item_idx], pa.string()),
            pa.array(timestamps, pa.int64()),
            pa.array(ratings, pa.float32()),
            pa.nulls(len(item_idx), pa.int8()),
        ],
        schema=INTERACTIONS_SCHEMA,
    )
    return DomainData(domain, spec["scenario"], spec["role"], items, interactions, item_category, partner, categories)


def _item_text(spec: dict[str, Any], category: str, rng: np.random.Generator) -> tuple[str, str, dict[str, Any]]:
    cat = spec["categories"][category]
    brand = str(rng.choice(spec["brands"]))
    adjective = str(rng.choice(spec["adjectives"]))
    noun = str(rng.choice(cat["nouns"]))
    words = [str(w) for w in rng.choice(cat["words"], size=3, replace=False)]
    model = f"{rng.choice(['Series', 'Edition', 'Model', 'Line'])} {int(rng.integers(2, 99))}"
    title = f"{brand} {adjective} {noun} {model}"
    templates = [
        f"A {adjective} {noun} with {words[0]} and {words[1]}. Loved for its {words[2]}.",
        f"This {noun} from {brand} brings {words[0]}, {words[1]} and {words[2]}.",
        f"{words[0].capitalize()} meets {words[1]} in a {adjective} {noun}; known for {words[2]}.",
    ]
    description = templates[int(rng.integers(len(templates)))]
    raw = {"title": title, "description": description, "brand": brand, "category": category}
    return title, description, raw


def _partners(spec: dict[str, Any], categories: list[str], item_category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each item, a random item of the complementary category (a random matching, cycled)."""
    partner = np.empty(len(item_category), dtype=np.int64)
    for a, b in spec["complements"]:
        items_a = np.flatnonzero(item_category == categories.index(a))
        items_b = np.flatnonzero(item_category == categories.index(b))
        perm_a, perm_b = rng.permutation(items_a), rng.permutation(items_b)
        for i, item in enumerate(perm_a):
            partner[item] = perm_b[i % len(perm_b)]
        for i, item in enumerate(perm_b):
            partner[item] = perm_a[i % len(perm_a)]
    return partner


def _sequences(
    config: DemoDataConfig,
    categories: list[str],
    item_category: np.ndarray,
    partner: np.ndarray,
    popularity: np.ndarray,
    n_users: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw every user's time-ordered sequence; returns flat (user, item, timestamp, rating) arrays."""
    n_cat = len(categories)
    by_category = [np.flatnonzero(item_category == c) for c in range(n_cat)]
    # Inverse-CDF sampling from pre-drawn uniforms: rng.choice(p=...) per step is ~10x slower.
    cat_cdf = [np.cumsum(popularity[idx]) / popularity[idx].sum() for idx in by_category]
    lengths = config.min_history + rng.poisson(config.mean_history - config.min_history, n_users)
    lengths = np.minimum(lengths, len(item_category) // 2)
    pref_cdf = np.cumsum(rng.dirichlet(np.full(n_cat, config.preference_concentration), n_users), axis=1)
    prefs = np.diff(pref_cdf, axis=1, prepend=0.0)

    def draw_from(c: int, u01: float) -> int:
        return int(by_category[c][min(np.searchsorted(cat_cdf[c], u01), len(by_category[c]) - 1)])

    users, items, times, ratings = [], [], [], []
    for u in range(n_users):
        length = int(lengths[u])
        draws = rng.random((length, 3)).tolist()
        retry = rng.random((20, 2)).tolist()
        seen: set[int] = set()
        seq: list[int] = []
        current = -1
        for step in range(length):
            choice = -1
            r, u1, _ = draws[step]
            if current >= 0 and r < config.p_complement:
                choice = int(partner[current])
            elif current >= 0 and r < config.p_complement + config.p_similar:
                choice = draw_from(int(item_category[current]), u1)
            if choice < 0 or choice in seen:
                for a, b in retry:
                    c = min(int(np.searchsorted(pref_cdf[u], a)), n_cat - 1)
                    choice = draw_from(c, b)
                    if choice not in seen:
                        break
                rng.shuffle(retry)
            if choice in seen:
                continue
            seen.add(choice)
            seq.append(choice)
            current = choice
        n = len(seq)
        gaps = rng.exponential(2 * DAY, n).astype(np.int64)
        gaps[np.asarray([d[2] for d in draws[:n]]) < config.tie_rate] = 0
        start = START_TIME + int(rng.integers(0, 365 * DAY))
        seq_arr = np.asarray(seq, dtype=np.int64)
        affinity = prefs[u][item_category[seq_arr]] / prefs[u].max()
        rating = np.clip(np.rint(2.5 + 2.5 * affinity + rng.normal(0, 0.7, n)), 1, 5)
        users.append(np.full(n, u, dtype=np.int64))
        items.append(seq_arr)
        times.append(start + np.cumsum(gaps))
        ratings.append(rating.astype(np.float32))
    return np.concatenate(users), np.concatenate(items), np.concatenate(times), np.concatenate(ratings)


def ground_truth_table(data: DomainData) -> pa.Table:
    """The planted complementary relation of one domain: one row per (item, partner)."""
    ids = np.asarray(data.items.column("item_id").to_pylist(), dtype=object)
    cats = np.asarray(data.categories, dtype=object)
    return pa.table(
        {
            "domain": pa.array([data.domain] * len(ids), pa.string()),
            "item_id": pa.array(ids, pa.string()),
            "category": pa.array(cats[data.item_category], pa.string()),
            "partner_id": pa.array(ids[data.partner], pa.string()),
            "partner_category": pa.array(cats[data.item_category[data.partner]], pa.string()),
        }
    )


def domains_table(datas: list[DomainData]) -> pa.Table:
    """One row per generated domain: its scenario and role (train or benchmark)."""
    return pa.table(
        {
            "domain": pa.array([d.domain for d in datas], pa.string()),
            "scenario": pa.array([d.scenario for d in datas], pa.string()),
            "role": pa.array([d.role for d in datas], pa.string()),
        }
    )
