"""Stage ``contrastive``: fine-tune the encoder on collaborative pairs; artifact ``model``.

Reads ``pairs`` (``PAIRS_SCHEMA``) and, when a ``mlm`` stage runs, its ``backbone``;
otherwise fine-tunes ``contrastive.model`` (default: the shipped all-MiniLM-L6-v2). The
``model`` artifact is a folder loadable by ``AutoModel`` and ``SentenceTransformer`` with
a model card (:mod:`gre_ray.train.export`).
"""

from __future__ import annotations

from typing import Any

from gre_ray.data.schema import PAIRS
from gre_ray.data.shared import model_name, shared_uri
from gre_ray.data.storage import read_table
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.errors import DataError
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.train.config import ContrastiveConfig, LossName, resolve_model
from gre_ray.train.rows import check_pair_texts, split_pairs
from gre_ray.train.run import train_and_export
from gre_ray.train.tasks import ContrastiveTask, check_encoder

OBJECTIVES = {
    LossName.INFONCE: "bidirectional InfoNCE (van den Oord et al. 2018; symmetric as in CLIP, Radford et al. 2021)",
    LossName.GTE: "GTE improved contrastive loss (Li et al. 2023): query-passage, query-query and "
    "passage-passage negatives",
    LossName.GIST: "GISTEmbed guided in-batch negatives (Solatorio 2024)",
}


@register
class ContrastiveStage(Stage):
    name = "contrastive"
    provides = ("model",)
    requires = ("pairs",)
    optional = ("backbone",)
    uses_ray = True

    def external_inputs(self, config: Any) -> dict[str, str]:
        settings: ContrastiveConfig = config.contrastive
        out = {"model": model_fingerprint(resolve_model(settings.model, "contrastive.model"))}
        if settings.loss is LossName.GIST and settings.guide_model:
            out["guide_model"] = model_fingerprint(resolve_model(settings.guide_model, "contrastive.guide_model"))
        return out

    def run(self, ctx: StageContext) -> None:
        settings: ContrastiveConfig = ctx.settings
        # Names, not driver folders: each training worker resolves them on its own node.
        if ctx.has_input("backbone"):
            model = shared_uri(ctx.input("backbone"))
        else:
            model = model_name(settings.model, "contrastive.model")
        check_encoder(resolve_model(model, "contrastive.model"),
                      "contrastive.model" if not ctx.has_input("backbone") else "backbone")
        guide = model
        if settings.loss is LossName.GIST:
            guide = model_name(settings.guide_model, "contrastive.guide_model") if settings.guide_model else model
            check_encoder(resolve_model(guide, "contrastive.guide_model"), "contrastive.guide_model")
        source = ctx.input("pairs")
        table = read_table(source, PAIRS)
        if table.num_rows == 0:
            raise DataError(f"{source.uri}: the pairs table has no rows; nothing to fine-tune on")
        check_pair_texts(table, source.uri)
        split = split_pairs(table, settings.loop.heldout_fraction, settings.loop.seed, settings.hard_negatives)
        if settings.hard_negatives and not split.train.any():
            raise DataError(
                f"{source.uri}: no pair has {settings.hard_negatives} hard negatives (contrastive.hard_negatives)"
            )
        task = ContrastiveTask(settings, model, guide)
        train_and_export(
            ctx,
            task,
            stage=self.name,
            kind="pairs",
            source=source,
            table=table,
            split=split,
            artifact="model",
            card={
                "title": "GRE text embedding model",
                "base_model": model,
                "objective": OBJECTIVES[settings.loss] + f", temperature {settings.temperature}, "
                f"{settings.hard_negatives} hard negative(s) per pair",
                "pooling": settings.pooling.value,
                "notes": [
                    "Fine-tuned on collaborative item pairs (items users consume together), gathered negatives "
                    f"across {max(1, settings.scaling.num_workers)} worker(s), same-item duplicates masked: "
                    f"{settings.mask_duplicates}.",
                    "Recall@K: held-out pairs as text-to-text retrieval (item_a text -> item_b texts).",
                ],
            },
        )

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        lines = [f"pairs {stats.get('training_rows', 0):,} train / {stats.get('heldout_rows', 0):,} held out"]
        initial = stats.get("initial_metrics") or {}
        if initial:
            lines.append(
                f"before: recall@k {initial.get('recall_at_k', 0):.4f}, held-out loss {initial.get('heldout_loss', 0):.4f}"
            )
        for h in stats.get("history") or []:
            lines.append(
                f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, held-out loss {h['heldout_loss']:.4f}, "
                f"recall@k {h['recall_at_k']:.4f}"
            )
        return lines
