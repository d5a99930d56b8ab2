"""Does an embedding model place an item near its planted complementary partner?

Each demo benchmark domain has three complementary category pairs; one of them it shares
with its training sibling (see ``vocabulary.yaml``). A model fine-tuned on the training
domains' co-consumption can learn the shared relation, never the two others. This module
measures, per benchmark domain and embedding model, how well cosine similarity separates
an item's partner from an item of an unrelated category (AUC, 0.5 = not at all), for the
shared and the domain's own pairs, and the mean cosine of unrelated items (how anisotropic
the vectors are).

Run it on a finished demo run (it reads the benchmark's embedding cache)::

    .venv/bin/python -m gre_ray.demo.transfer runs/demo
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from gre_ray.demo.generator import vocabulary


@dataclass
class Separation:
    """Partner-vs-unrelated separation of one (domain, embedding model).

    Attributes:
        shared_auc: AUC over partners of the complementary pair shared with training.
        own_auc: AUC over partners of the domain's own two pairs.
        unrelated_cosine: mean cosine of an item and an unrelated-category item.
    """

    shared_auc: float
    own_auc: float
    unrelated_cosine: float


def shared_pairs(domain: str) -> set[frozenset[str]]:
    """The complementary category pairs ``domain`` shares with its sibling of the other role."""
    vocab = vocabulary()
    spec = vocab[domain]
    sibling = next(s for d, s in vocab.items() if s["scenario"] == spec["scenario"] and d != domain)
    return {frozenset(p) for p in spec["complements"]} & {frozenset(p) for p in sibling["complements"]}


def separation(
    item_ids: list[str], vectors: np.ndarray, ground_truth: pd.DataFrame, shared: set[frozenset[str]], seed: int = 0
) -> Separation:
    """Measure one domain's embeddings against its planted partners.

    Args:
        item_ids: ids of the rows of ``vectors``.
        vectors: (N, D) item vectors (normalised here).
        ground_truth: the domain's rows of the ``ground_truth`` artifact (item_id, category,
            partner_id, partner_category).
        shared: category pairs counted as shared (see :func:`shared_pairs`).
        seed: seeds the choice of one unrelated item per planted pair.
    """
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    row = {item: k for k, item in enumerate(item_ids)}
    by_category = {c: g["item_id"].to_numpy() for c, g in ground_truth.groupby("category")}
    rng = np.random.default_rng(seed)
    scores: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for item, partner, cat, partner_cat in ground_truth[["item_id", "partner_id", "category", "partner_category"]].itertuples(
        index=False
    ):
        others = [c for c in by_category if c not in (cat, partner_cat)]
        unrelated = rng.choice(by_category[others[rng.integers(len(others))]])
        positives, negatives = scores[frozenset((cat, partner_cat)) in shared]
        positives.append(float(unit[row[item]] @ unit[row[partner]]))
        negatives.append(float(unit[row[item]] @ unit[row[unrelated]]))

    def auc(kind: bool) -> float:
        pos, neg = scores[kind]
        return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg)) if pos else float("nan")

    unrelated_all = scores[True][1] + scores[False][1]
    return Separation(auc(True), auc(False), float(np.mean(unrelated_all)))


def run_report(run_root: Path) -> pd.DataFrame:
    """One row per (benchmark domain, embedding cache entry) of a finished demo run."""
    import pyarrow.parquet as pq

    from gre_ray.data.storage import Location, read_json

    ground_truth = pq.read_table(run_root / "demo_data" / "ground_truth").to_pandas()
    domain_of = dict(zip(ground_truth["item_id"], ground_truth["domain"]))
    rows = []
    for manifest in sorted((run_root / "cache" / "embeddings").glob("*/manifest.json")):
        table = pq.read_table(manifest.parent / "embeddings").to_pandas()
        domain = domain_of.get(table["item_id"].iloc[0])
        if domain is None or vocabulary()[domain]["role"] != "benchmark":
            continue
        model = str(read_json(Location.of(str(manifest))).get("model", manifest.parent.name))
        # a run artifact (named by its file:// URI since models cross Ray boundaries by URI): relative to the run
        model = model.removeprefix("file://").removeprefix(str(run_root.resolve()) + "/")
        result = separation(
            table["item_id"].tolist(), np.stack(table["embedding"].to_numpy()).astype(np.float64),
            ground_truth[ground_truth["domain"] == domain], shared_pairs(domain),
        )
        rows.append({"domain": domain, "model": model, **vars(result)})
    return pd.DataFrame(rows).sort_values(["domain", "model"], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_root", type=Path, help="a finished demo run folder, e.g. runs/demo")
    report = run_report(parser.parse_args().run_root)
    print(report.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nmean per model:")
    print(report.groupby("model")[["shared_auc", "own_auc", "unrelated_cosine"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
