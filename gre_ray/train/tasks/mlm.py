"""Continued masked-language-model pre-training on the coreset corpus.

BERT's objective (Devlin et al. 2019): 15% of the tokens are selected; of those 80% become
[MASK], 10% a random token, 10% stay; the model predicts the originals. Continuing it on
in-domain item texts adapts the backbone to the recommendation vocabulary before
contrastive fine-tuning (domain-adaptive pre-training, Gururangan et al. 2020), as GRE
does on its coreset.

A checkpoint without an MLM head (all-MiniLM-L6-v2 is saved as a bare ``BertModel``) gets
a freshly initialised head, seeded by ``loop.seed``; the encoder weights are kept. Held-out
masking uses a fixed seed, so held-out losses of different epochs are comparable.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import torch
from torch import Tensor, nn

from gre_ray.train.config import MLMConfig
from gre_ray.train.tasks.base import Task, enable_activation_checkpointing, to_device

EVAL_SEED = 1_000_003


class MLMTask(Task):
    """Corpus texts → ``AutoModelForMaskedLM`` trained with masked-token prediction.

    Args:
        settings: the ``mlm`` section.
        model_path: the model to continue pre-training.
    """

    metric = "heldout_loss"
    mode = "min"

    def __init__(self, settings: MLMConfig, model_path: str) -> None:
        self.settings = settings
        self.model_path = model_path
        self.tokenizer = None
        self.train_collator = None

    def _tokenizer(self):
        if self.tokenizer is None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self.tokenizer

    def _collator(self, seed: int):
        """A masking collator whose random stream starts at ``seed`` and advances batch by batch."""
        from transformers import DataCollatorForLanguageModeling

        probability = self.settings.mlm_probability
        return DataCollatorForLanguageModeling(self._tokenizer(), mlm_probability=probability, seed=seed)

    def start_epoch(self, epoch: int, rank: int) -> None:
        """Restart the training masks at a point fixed by (seed, epoch, rank), so a resumed epoch masks alike."""
        self.train_collator = self._collator((self.settings.loop.seed * 7919 + epoch) * 1009 + rank)

    def build_model(self) -> nn.Module:
        from transformers import AutoModelForMaskedLM

        torch.manual_seed(self.settings.loop.seed)  # the initialisation of a missing head
        model = AutoModelForMaskedLM.from_pretrained(self.model_path)
        if self.settings.optim.activation_checkpointing:
            enable_activation_checkpointing(model)
        return model

    def collate(self, rows: pa.Table, rank: int = 0, *, collator=None) -> dict[str, Any]:
        """Token ids truncated to ``max_length`` tokens, masked, padded, with MLM labels."""
        texts = rows.column("text").to_pylist()
        encoded = self._tokenizer()(texts, truncation=True, max_length=self.settings.max_length)
        examples = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
        if collator is None:
            if self.train_collator is None:
                self.start_epoch(0, rank)
            collator = self.train_collator
        return dict(collator(examples))

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> Tensor:
        return model(**batch).loss

    @torch.no_grad()
    def evaluate(self, model: nn.Module, heldout: pa.Table, device: torch.device) -> dict[str, float]:
        size = self.settings.loop.batch_size
        collator = self._collator(EVAL_SEED)  # the same masks at every evaluation
        total, tokens = 0.0, 0
        for start in range(0, heldout.num_rows, size):
            batch = to_device(self.collate(heldout.slice(start, size), collator=collator), device)
            n = int((batch["labels"] != -100).sum())
            if n:
                total += float(model(**batch).loss) * n
                tokens += n
        loss = total / max(tokens, 1)
        return {"heldout_loss": loss, "perplexity": float(torch.exp(torch.tensor(min(loss, 50.0))))}

    def save(self, module: nn.Module, state_dict: dict[str, Tensor], folder: str) -> None:
        module.save_pretrained(folder, state_dict=state_dict)
        self._tokenizer().save_pretrained(folder)
