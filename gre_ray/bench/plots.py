"""Figures of the GRE-B report, rendered off-screen (matplotlib's Agg canvas) to PNG bytes.

Three figures: the gain of each text variant over ID-only per scenario, a dataset × variant
heatmap of that gain, and validation curves per model from the per-epoch history.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gre_ray.bench.config import ID_ONLY


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def variant_label(embedding: str, fusion: str) -> str:
    """``minilm-add``, or ``id`` for ID-only."""
    return embedding if embedding == ID_ONLY else f"{embedding}-{fusion}"


def gain_chart(gains: pd.DataFrame) -> bytes | None:
    """Grouped bars: mean relative gain over ID-only (%) per scope and text variant.

    Args:
        gains: :func:`gre_ray.bench.leaderboard.scenario_gains` output.
    """
    if gains.empty:
        return None
    gains = gains.assign(variant=[variant_label(e, f) for e, f in zip(gains["embedding"], gains["fusion"])])
    table = gains.pivot_table(index="scope", columns="variant", values="gain_vs_id", sort=False) * 100
    fig = Figure(figsize=(max(5.0, 1.1 * len(table) + 2), 3.6))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(table.columns))
    x = np.arange(len(table))
    for i, variant in enumerate(table.columns):
        ax.bar(x + (i - (len(table.columns) - 1) / 2) * width, table[variant].to_numpy(), width, label=variant)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, table.index, rotation=20)
    ax.set_ylabel("gain over ID-only (%)")
    ax.set_title("Headline metric gain per scenario (mean over models)")
    ax.legend(fontsize=8)
    return _png(fig)


def gain_heatmap(gains: pd.DataFrame) -> bytes | None:
    """Dataset × text variant heatmap of the relative gain over ID-only (%).

    Args:
        gains: :func:`gre_ray.bench.leaderboard.dataset_gains` output.
    """
    if gains.empty:
        return None
    gains = gains.assign(variant=[variant_label(e, f) for e, f in zip(gains["embedding"], gains["fusion"])])
    table = gains.pivot_table(index=["scenario", "dataset"], columns="variant", values="gain") * 100
    values = table.to_numpy()
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig = Figure(figsize=(2.2 + 1.3 * table.shape[1], 1.0 + 0.42 * table.shape[0]))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20)
    ax.set_yticks(range(table.shape[0]), [f"{d} ({s})" for s, d in table.index])
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="gain over ID-only (%)")
    ax.set_title("Gain per dataset (headline metric, mean over models)")
    return _png(fig)


def training_curves(history: pd.DataFrame, max_models: int = 4) -> bytes | None:
    """Validation score per epoch, one panel per model, one line per variant (first dataset
    and lowest seed of each model, so the lines compare variants on the same split)."""
    if history.empty:
        return None
    models = list(dict.fromkeys(history["model"]))[:max_models]
    fig = Figure(figsize=(4.2 * len(models), 3.2), layout="constrained")
    for k, model in enumerate(models):
        ax = fig.add_subplot(1, len(models), k + 1)
        rows = history[history["model"] == model]
        dataset = sorted(rows["dataset"].unique())[0]
        rows = rows[(rows["dataset"] == dataset) & (rows["seed"] == rows["seed"].min())]
        for (embedding, fusion), group in rows.groupby(["embedding", "fusion"]):
            group = group.sort_values("epoch")
            ax.plot(group["epoch"], group["valid_score"], marker=".", label=variant_label(embedding, fusion))
        ax.set_title(f"{model} on {dataset}")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if k == 0:
            ax.set_ylabel("validation score (selection metric)")
        ax.legend(fontsize=7)
    return _png(fig)
