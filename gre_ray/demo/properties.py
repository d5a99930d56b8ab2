"""Measure what the demo data is meant to show, so tests check it rather than assume it.

Text similarity is TF-IDF cosine over item texts (a model-free stand-in for an embedding
model). Co-consumed pairs are consecutive items of a user's time-ordered sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

DISSIMILAR_BELOW = 0.1


@dataclass
class DemoProperties:
    """Measured properties of one domain.

    Attributes:
        text_sim_auc: AUC of text similarity for separating co-consumed pairs from random
            pairs of the same domain (0.5: text tells nothing; 1: text tells everything).
        mean_sim_cooccurring: mean text similarity of co-consumed pairs.
        mean_sim_random: mean text similarity of random pairs.
        dissimilar_share: share of co-consumed pairs whose text similarity is below 0.1.
        complement_share: share of co-consumed pairs that are planted complements.
        complement_dissimilar_share: share of planted complement pairs below 0.1 similarity.
    """

    text_sim_auc: float
    mean_sim_cooccurring: float
    mean_sim_random: float
    dissimilar_share: float
    complement_share: float
    complement_dissimilar_share: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def measure(items: pa.Table, interactions: pa.Table, ground_truth: pa.Table, seed: int = 0) -> DemoProperties:
    """Measure :class:`DemoProperties` on one domain's tables."""
    ids = items.column("item_id").to_pylist()
    index = {item: i for i, item in enumerate(ids)}
    tfidf = TfidfVectorizer().fit_transform(items.column("text").to_pylist())

    df = interactions.select(["user_id", "item_id", "timestamp"]).to_pandas()
    df["pos"] = np.arange(len(df))
    df = df.sort_values(["user_id", "timestamp", "pos"], kind="stable")
    item_idx = df["item_id"].map(index).to_numpy()
    same_user = df["user_id"].to_numpy()[1:] == df["user_id"].to_numpy()[:-1]
    a, b = item_idx[:-1][same_user], item_idx[1:][same_user]

    rng = np.random.default_rng(seed)
    ra, rb = rng.integers(0, len(ids), len(a)), rng.integers(0, len(ids), len(a))
    keep = ra != rb
    ra, rb = ra[keep], rb[keep]

    def cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(tfidf[x].multiply(tfidf[y]).sum(axis=1)).ravel()

    sim_co, sim_rand = cosine(a, b), cosine(ra, rb)
    partner = np.asarray([index[p] for p in ground_truth.column("partner_id").to_pylist()])
    part_of = partner[np.asarray([index[i] for i in ground_truth.column("item_id").to_pylist()])]
    partner_by_item = np.empty(len(ids), dtype=np.int64)
    partner_by_item[[index[i] for i in ground_truth.column("item_id").to_pylist()]] = part_of
    is_complement = (partner_by_item[a] == b) | (partner_by_item[b] == a)
    sim_partner = cosine(np.arange(len(ids)), partner_by_item)

    labels = np.r_[np.ones(len(sim_co)), np.zeros(len(sim_rand))]
    return DemoProperties(
        text_sim_auc=float(roc_auc_score(labels, np.r_[sim_co, sim_rand])),
        mean_sim_cooccurring=float(sim_co.mean()),
        mean_sim_random=float(sim_rand.mean()),
        dissimilar_share=float((sim_co < DISSIMILAR_BELOW).mean()),
        complement_share=float(is_complement.mean()),
        complement_dissimilar_share=float((sim_partner < DISSIMILAR_BELOW).mean()),
    )
