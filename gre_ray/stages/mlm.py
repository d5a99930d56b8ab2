"""Stage ``mlm``: continued masked-language-model pre-training on the coreset; artifact ``backbone``.

Reads ``corpus`` (the coreset: ``domain``, ``item_id``, ``text``, ...) and continues
pre-training ``mlm.model`` (default: the shipped all-MiniLM-L6-v2, whose checkpoint has no
MLM head, so a fresh head is trained from a seeded initialisation). The ``backbone``
artifact is a Hugging Face ``AutoModelForMaskedLM`` folder that ``contrastive`` loads with
``AutoModel`` (the head is dropped).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from gre_ray.data.schema import Contract
from gre_ray.data.shared import model_name
from gre_ray.data.storage import read_table
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.errors import DataError
from gre_ray.runner.resources import Need, training_needs
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.tracking.check import check_tracking
from gre_ray.tracking.config import TRACKING_KEYS
from gre_ray.train.config import MLMConfig, resolve_model
from gre_ray.train.row_summary import summarize
from gre_ray.train.tasks import MLMTask, check_encoder
from gre_ray.stages.training import train_and_export

# The columns MLM reads from the coreset's corpus (which carries more: selection order, ...).
CORPUS_TEXTS = Contract(
    "corpus",
    pa.schema([pa.field("domain", pa.string(), nullable=False), pa.field("item_id", pa.string(), nullable=False),
               pa.field("text", pa.string())]),
    unique_key=("domain", "item_id"),
)


@register
class MLMStage(Stage):
    name = "mlm"
    provides = ("backbone",)
    requires = ("corpus",)
    uses_ray = True
    speed_settings = TRACKING_KEYS  # where the epochs' metrics are also logged changes no weights

    def preflight(self, config: Any) -> None:
        settings = config.mlm
        check_tracking(settings.tracking, settings.tracking_uri, config.run.root, self.name)

    def needs(self, config: Any) -> list[Need]:
        return training_needs(config.mlm, self.name)

    def external_inputs(self, config: Any) -> dict[str, str]:
        return {"model": model_fingerprint(resolve_model(config.mlm.model, "mlm.model"))}

    def run(self, ctx: StageContext) -> None:
        settings: MLMConfig = ctx.settings
        model = model_name(settings.model, "mlm.model")  # resolved by each training worker on its node
        check_encoder(resolve_model(model, "mlm.model"), "mlm.model")
        source = ctx.input("corpus")
        table = read_table(source, CORPUS_TEXTS)
        if table.num_rows == 0:
            raise DataError(f"{source.uri}: the corpus has no rows; nothing to pre-train on")
        # the corpus is the coreset (bounded by its budget): summarized in this process
        rows = summarize(table, "corpus", settings.loop.heldout_fraction, settings.loop.seed,
                         limit=settings.loop.heldout_max)
        del table
        task = MLMTask(settings, model)
        result = train_and_export(
            ctx,
            task,
            stage=self.name,
            kind="corpus",
            source=source,
            rows=rows,
            artifact="backbone",
            card={
                "title": "GRE backbone (continued MLM pre-training)",
                "base_model": model,
                "objective": f"masked language modelling (Devlin et al. 2019), "
                f"{settings.mlm_probability:.0%} of tokens",
                "notes": [
                    "Continued pre-training on the domain-balanced coreset of item texts.",
                    "A base checkpoint without an MLM head (e.g. all-MiniLM-L6-v2) gets a randomly initialised head "
                    f"(seed {settings.loop.seed}); its first epochs mostly train that head.",
                ],
            },
        )
        ctx.stats["perplexity_best"] = min((h["perplexity"] for h in result.state.get("history", [])), default=None)

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        lines = [f"corpus {stats.get('training_rows', 0):,} train / {stats.get('heldout_rows', 0):,} held out"]
        for h in stats.get("history") or []:
            lines.append(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, held-out loss {h['heldout_loss']:.4f}")
        return lines
