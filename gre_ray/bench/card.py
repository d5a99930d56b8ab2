"""GRE-B results in a model card's Hugging Face ``model-index`` metadata.

The training stage writes the GRE model's card (``README.md``, :mod:`gre_ray.train.export`);
when the run benchmarks that model, the benchmark stage adds its test results there, so the
card carries them when the folder is published to the Hub (``hf upload``). One
``model-index`` result per (recommender, fusion, dataset) with each test metric's mean over
seeds, and one per (recommender, fusion) for the GRE-B mean over datasets (the leaderboard's
``overall`` row, :mod:`gre_ray.bench.leaderboard`); the task type names the recommender and
fusion (``gre-b-sasrec-add``). Everything else in the card is kept;
earlier GRE-B results are replaced.
"""

from __future__ import annotations

import pandas as pd

from gre_ray.bench.leaderboard import OVERALL, leaderboard, ok_rows
from gre_ray.data.storage import Location

TASK_TYPE = "gre-b"  # + recommender and fusion: the Hub keys a result by (task type, dataset, config, split)
DATASET_TYPE = "gre-b"
CARD = "README.md"


def eval_results(results: pd.DataFrame, embedding: str, metrics: list[str]) -> list:
    """``huggingface_hub.EvalResult`` entries of ``embedding``'s successful GRE-B trials."""
    from huggingface_hub import EvalResult

    rows = ok_rows(results, metrics)
    rows = rows[rows["embedding"] == embedding]
    out = []

    def entry(model: str, fusion: str, dataset: str, config: str, metric: str, value: float) -> EvalResult:
        return EvalResult(task_type=f"{TASK_TYPE}-{model}-{fusion}", task_name=f"GRE-B {model} ({fusion} fusion)",
                          dataset_type=DATASET_TYPE, dataset_name=dataset, dataset_config=config,
                          dataset_split="test", metric_type=metric, metric_name=f"{metric} (mean over seeds)",
                          metric_value=round(float(value), 6))

    means = rows.groupby(["model", "fusion", "dataset", "metric"], as_index=False)["value"].mean()
    for r in means.itertuples(index=False):
        out.append(entry(r.model, r.fusion, f"GRE-B {r.dataset}", str(r.dataset), r.metric, r.value))
    board = leaderboard(rows, metrics)
    for r in board[board["scope"] == OVERALL].itertuples(index=False):
        out.append(entry(r.model, r.fusion, f"GRE-B (mean over {r.n_datasets} datasets)", "all", r.metric, r.mean))
    return out


def add_results(folder: Location, results: pd.DataFrame, embedding: str, metrics: list[str], name: str = "") -> bool:
    """Write ``embedding``'s GRE-B results into the card of the model in ``folder``.

    Args:
        folder: the exported model folder (its ``README.md`` is rewritten).
        results: the tidy results table.
        embedding: the embedding name the model was benchmarked under.
        metrics: the metrics to record.
        name: the model's name in ``model-index`` (default: ``embedding``).

    Returns:
        False when there is nothing to write (no card, or no successful trial of ``embedding``).
    """
    from huggingface_hub import ModelCard

    card_loc = folder / CARD
    found = eval_results(results, embedding, metrics)
    if not found or not card_loc.exists():
        return False
    card = ModelCard(card_loc.read_text())
    kept = [r for r in (card.data.eval_results or []) if r.dataset_type != DATASET_TYPE]
    card.data.model_name = card.data.model_name or name or embedding
    card.data.eval_results = kept + found
    card_loc.write_text(str(card))
    return True
