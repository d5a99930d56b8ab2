"""The one table of evaluation metrics: each name, the task whose models report it, and its direction.

Everything that names a metric reads it from here: the trainer's selection metric, the
benchmark config's check of ``benchmark.metrics``, the results store's failed-trial rows,
and the leaderboard's sign (Logloss is the only metric where smaller is better). The names
are what :mod:`gre_ray.recsys.evaluation` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

KS = (5, 10, 20, 50)  # the cut-offs K of NDCG@K, Recall@K and MRR@K



class Ties(str, Enum):
    """How full ranking counts competitors scored equal to the target (:mod:`gre_ray.recsys.metrics`)."""

    PESSIMISTIC = "pessimistic"
    AVERAGE = "average"


RETRIEVAL = "retrieval"
RANKING = "ranking"


@dataclass(frozen=True)
class Metric:
    """One metric: its name, the task (``retrieval`` or ``ranking``), and whether larger is better."""

    name: str
    task: str
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        *(Metric(f"{kind}@{k}", RETRIEVAL) for kind in ("ndcg", "recall", "mrr") for k in KS),
        Metric("mrr", RETRIEVAL),
        Metric("auc", RANKING),
        Metric("gauc", RANKING),
        Metric("logloss", RANKING, higher_is_better=False),
    )
}
HEADLINE = {RETRIEVAL: "ndcg@10", RANKING: "auc"}  # selection and headline metric when none is named
REPORTED = ["ndcg@10", "recall@10", "auc", "logloss"]  # the default columns of the leaderboard


def task_metrics(task: str) -> list[str]:
    """The metrics a ``task`` model reports on test, in table order."""
    return [m.name for m in METRICS.values() if m.task == task]


def selectable_metrics(task: str) -> list[str]:
    """The metrics a ``task`` model can be selected on (early stopping maximises them)."""
    return [m.name for m in METRICS.values() if m.task == task and m.higher_is_better]


def metric_task(metric: str) -> str:
    """The task whose models report ``metric``.

    Raises:
        KeyError: ``metric`` is not in the table.
    """
    return METRICS[metric].task


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (Logloss)."""
    return not METRICS[metric].higher_is_better


def headline_metric(task: str, metrics: list[str]) -> str:
    """The first metric of ``metrics`` that belongs to ``task`` (``ndcg@10`` / ``auc`` by default)."""
    for metric in metrics:
        if metric in METRICS and METRICS[metric].task == task:
            return metric
    return HEADLINE[task]
