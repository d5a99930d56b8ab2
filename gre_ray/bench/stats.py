"""Paired significance tests of GRE-B: does an embedding beat its reference on matched trials?

A pair is the same dataset, model and seed run with two variants (so both saw the same split
and negatives). For each model, text variant, reference (ID-only, and the base embedding
with the same fusion) and metric, the differences are oriented so that positive means
better and tested with the two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``,
exact for small n without ties). The ``all`` rows pool the headline metric of every model
(NDCG@10 and AUC, both higher-is-better) over (dataset, model, seed).

With fewer than :data:`MIN_PAIRS` pairs a two-sided p-value cannot fall below 0.05
(the smallest exact p is ``2 / 2**n``), so the test is not run and ``note`` says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from gre_ray.bench.config import ID_ONLY
from gre_ray.bench.leaderboard import ok_rows
from gre_ray.bench.trials import task_of
from gre_ray.recsys.metric_table import headline_metric, lower_is_better

MIN_PAIRS = 6
ALL_MODELS = "all"
TEST_COLUMNS = ["model", "embedding", "fusion", "reference", "metric", "n", "mean_diff", "median_diff", "wins",
                "losses", "statistic", "p_value", "note"]


def wilcoxon_row(diffs: np.ndarray) -> dict[str, float | int | str]:
    """Summary and two-sided Wilcoxon signed-rank test of paired differences (positive: better)."""
    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    row = {
        "n": n,
        "mean_diff": float(diffs.mean()) if n else np.nan,
        "median_diff": float(np.median(diffs)) if n else np.nan,
        "wins": int((diffs > 0).sum()),
        "losses": int((diffs < 0).sum()),
        "statistic": np.nan,
        "p_value": np.nan,
        "note": "",
    }
    if n < MIN_PAIRS:
        row["note"] = f"n={n} is too small for a test at 0.05 (needs at least {MIN_PAIRS} pairs)"
    elif not np.any(diffs):
        row["p_value"], row["note"] = 1.0, "all differences are zero"
    else:
        result = stats.wilcoxon(diffs, alternative="two-sided")
        row["statistic"], row["p_value"] = float(result.statistic), float(result.pvalue)
    return row


def _pairs(rows: pd.DataFrame, variant: tuple[str, str], reference: tuple[str, str], on: list[str]) -> np.ndarray:
    """Oriented differences variant − reference over the matched keys ``on``."""
    def pick(embedding: str, fusion: str) -> pd.DataFrame:
        sel = rows[(rows["embedding"] == embedding) & (rows["fusion"] == fusion)]
        return sel.groupby(on, as_index=False)["value"].mean()

    joined = pick(*variant).merge(pick(*reference), on=on, suffixes=("", "_ref"))
    sign = np.where(joined["metric"].map(lower_is_better).to_numpy(dtype=bool), -1.0, 1.0)
    return sign * (joined["value"] - joined["value_ref"]).to_numpy()


def paired_tests(results: pd.DataFrame, metrics: list[str], base: str = "") -> pd.DataFrame:
    """Wilcoxon tests of every text variant against ID-only and against the base embedding.

    Args:
        results: the tidy results table.
        metrics: metrics to test (each with the models of its task).
        base: the base embedding model (no base comparisons when empty).

    Returns:
        One row per (model or ``all``, embedding, fusion, reference, metric); see
        :data:`TEST_COLUMNS`.
    """
    rows = ok_rows(results, metrics)
    out = []
    variants = rows[rows["embedding"] != ID_ONLY][["embedding", "fusion"]].drop_duplicates().itertuples(index=False)
    headline_rows = rows[rows["metric"] == rows["model"].map(lambda m: headline_metric(task_of(m), metrics))]
    for embedding, fusion in sorted(variants):
        references = [(ID_ONLY, "none")]
        if base and embedding != base:
            references.append((base, fusion))
        for reference in references:
            ref_name = reference[0] if reference[0] == ID_ONLY else f"{reference[0]}-{reference[1]}"
            for (model, metric), group in rows.groupby(["model", "metric"]):
                diffs = _pairs(group, (embedding, fusion), reference, ["dataset", "seed", "metric"])
                if len(diffs):
                    out.append({"model": model, "embedding": embedding, "fusion": fusion, "reference": ref_name,
                                "metric": metric, **wilcoxon_row(diffs)})
            diffs = _pairs(headline_rows, (embedding, fusion), reference, ["dataset", "model", "seed", "metric"])
            if len(diffs):
                out.append({"model": ALL_MODELS, "embedding": embedding, "fusion": fusion, "reference": ref_name,
                            "metric": "headline", **wilcoxon_row(diffs)})
    return pd.DataFrame(out, columns=TEST_COLUMNS)
