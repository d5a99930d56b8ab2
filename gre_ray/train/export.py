"""Write a trained encoder as one folder that both Hugging Face and sentence-transformers load.

Layout: the backbone's ``config.json`` + ``model.safetensors`` + tokenizer at the top
(``AutoModel.from_pretrained(folder)``), and sentence-transformers' ``modules.json``,
``sentence_bert_config.json``, ``1_Pooling/`` (the pooling used in training) and
``2_Normalize/`` (``SentenceTransformer(folder)`` and the ``embed`` stage's
``Encoder.load(folder)`` reproduce the training vectors), plus a model card ``README.md``
naming the base model, the data, the loss, the hyper-parameters and the held-out metrics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from gre_ray.embed.pooling import Pooling

BACKBONE_PREFIX = "backbone."


def save_encoder(
    module: nn.Module, state_dict: dict[str, Tensor], tokenizer, folder: str, pooling: Pooling, max_length: int
) -> None:
    """Save a :class:`~gre_ray.train.pooling.TextEncoder` with weights ``state_dict`` to ``folder``.

    The sentence-transformers files are written by the ``embed`` package's
    :func:`~gre_ray.embed.model_folder.write_st_metadata`, so ``Encoder.load(folder)`` reads
    the same pooling back.

    Args:
        module: the encoder (its ``backbone`` provides the HF config and class).
        state_dict: full weights of ``module`` (keys prefixed ``backbone.``).
        tokenizer: the model's tokenizer.
        folder: destination (created).
        pooling: recorded in ``1_Pooling/config.json``.
        max_length: recorded as the sentence-transformers ``max_seq_length`` (tokens).
    """
    from gre_ray.embed.model_folder import write_st_metadata

    backbone_state = {k[len(BACKBONE_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(BACKBONE_PREFIX)}
    os.makedirs(folder, exist_ok=True)
    module.backbone.save_pretrained(folder, state_dict=backbone_state)
    tokenizer.save_pretrained(folder)
    dim = int(module.backbone.config.hidden_size)
    write_st_metadata(
        Path(folder), dim=dim, pooling=Pooling(pooling.value), normalize=True, max_length=max_length, prefix=""
    )


def write_model_card(folder: str, info: dict[str, Any]) -> None:
    """Write ``README.md`` (replacing the generic one sentence-transformers writes).

    Args:
        folder: the exported model folder.
        info: ``title``, ``base_model``, ``data`` (mapping), ``objective`` (text),
            ``hyperparameters`` (mapping), ``history`` (list of per-epoch metric dicts),
            ``best_epoch``, ``notes`` (list of lines), ``trained_on`` (the datasets the
            training saw: the card's ``datasets:`` metadata, which GRE-B reads to flag rows
            measured on them, :mod:`gre_ray.embed.identity`).
    """
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags: [gre, recommendation, text-embedding]",
    ]
    if info.get("trained_on"):
        lines.append(f"datasets: {json.dumps(sorted(info['trained_on']))}")
    lines += [
        "---",
        f"# {info['title']}",
        "",
        "Loads with `transformers.AutoModel.from_pretrained(folder)` (then mean/CLS pooling as below) "
        "and `sentence_transformers.SentenceTransformer(folder)`.",
        "",
        f"- **Base model:** `{info['base_model']}`",
        f"- **Objective:** {info['objective']}",
        f"- **Pooling:** {info.get('pooling', 'n/a')}, L2-normalised" if info.get("pooling") else "- **Pooling:** n/a",
        f"- **Best epoch:** {info.get('best_epoch')}",
        "",
        "## Data",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in info.get("data", {}).items()]
    lines += ["", "## Held-out metrics per epoch", ""]
    history = info.get("history", [])
    if history:
        keys = list(history[0])
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_fmt(h.get(k)) for k in keys) + " |" for h in history]
    hyperparameters = json.dumps(info.get("hyperparameters", {}), indent=2, default=str)
    lines += ["", "## Hyper-parameters", "", "```json", hyperparameters, "```"]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in info["notes"]]
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
