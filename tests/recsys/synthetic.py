"""A tiny interaction generator with a planted structure, for recommender tests.

Items live in clusters; each user stays in one cluster (with a little noise), so the next
item is predictable from the history; text vectors are the cluster centroid plus noise,
so text reveals the cluster. Cold items (never seen before the test position) let tests
check that ``text_only`` scores items an ID embedding never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from gre_ray.recsys import TextVectors, align_text_vectors


@dataclass
class Synthetic:
    interactions: pd.DataFrame
    item_cluster: dict[str, int]
    item_text: dict[str, np.ndarray]
    user_cluster: dict[str, int]

    def embeddings_table(self, items=None, dim_slice=None) -> pa.Table:
        """The contract embeddings table (``item_id``, ``embedding`` fixed_size_list<float32>)."""
        ids = sorted(self.item_text) if items is None else list(items)
        vecs = np.stack([self.item_text[i] for i in ids]).astype(np.float32)
        if dim_slice is not None:
            vecs = vecs[:, :dim_slice]
        flat = pa.array(vecs.reshape(-1), pa.float32())
        return pa.table(
            {
                "item_id": pa.array(ids, pa.string()),
                "embedding": pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1]),
            }
        )


def clustered(
    n_users: int = 240,
    n_clusters: int = 6,
    items_per_cluster: int = 20,
    length: tuple[int, int] = (8, 14),
    noise: float = 0.05,
    text_dim: int = 16,
    cold_per_cluster: int = 0,
    explicit: bool = False,
    seed: int = 0,
) -> Synthetic:
    """Users in clusters; ``explicit`` adds out-of-cluster interactions rated low."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(n_clusters, text_dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    item_cluster, item_text, clusters = {}, {}, []
    weights = 1.0 / np.sqrt(np.arange(1, items_per_cluster + 1))
    weights /= weights.sum()
    for c in range(n_clusters):
        ids = [f"c{c}-i{k:03d}" for k in range(items_per_cluster)]
        clusters.append(ids)
        for k in range(items_per_cluster + cold_per_cluster):
            item = f"c{c}-i{k:03d}" if k < items_per_cluster else f"c{c}-cold{k:03d}"
            item_cluster[item] = c
            vec = centroids[c] + 0.3 * rng.normal(size=text_dim) / np.sqrt(text_dim)
            item_text[item] = vec / np.linalg.norm(vec)
    rows, user_cluster = [], {}
    for u in range(n_users):
        user = f"u{u:04d}"
        c = int(rng.integers(n_clusters))
        user_cluster[user] = c
        t = int(rng.integers(1_000_000))
        n = int(rng.integers(length[0], length[1] + 1))
        for step in range(n):
            other = rng.random() < (0.4 if explicit else noise)
            cc = int(rng.integers(n_clusters)) if other else c
            item = clusters[cc][rng.choice(items_per_cluster, p=weights)]
            if cold_per_cluster and step == n - 1 and u % 2 == 0:
                item = f"c{c}-cold{items_per_cluster + int(rng.integers(cold_per_cluster)):03d}"
            t += int(rng.integers(0, 3)) * 3600  # gap 0 makes timestamp ties
            rating = float(rng.choice([4.0, 5.0]) if cc == c else rng.choice([1.0, 2.0]))
            rows.append(("synthetic", user, item, t, rating, None))
    df = pd.DataFrame(rows, columns=["domain", "user_id", "item_id", "timestamp", "rating", "label"])
    df["timestamp"] = df["timestamp"].astype("int64")
    df["rating"] = df["rating"].astype("float32")
    df["label"] = df["label"].astype("Int8")
    return Synthetic(df, item_cluster, item_text, user_cluster)


def text_for(synthetic: Synthetic, split) -> TextVectors:
    """The synthetic text vectors aligned to ``split``."""
    ids = np.array(sorted(synthetic.item_text), dtype=object)
    vecs = np.stack([synthetic.item_text[i] for i in ids]).astype(np.float32)
    return align_text_vectors(ids, vecs, split.item_ids, source="synthetic-text")
