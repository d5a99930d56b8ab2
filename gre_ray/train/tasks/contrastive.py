"""Contrastive fine-tuning on collaborative item pairs (rows in ``PAIRS_SCHEMA``).

Each row is (text_a, text_b) of two items users consume together, with optional mined
hard negatives; the encoder learns to place them close. The loss is chosen by name
(:mod:`gre_ray.train.losses`). Held-out metrics: the same loss on held-out pairs with in-batch
negatives only (held-out pairs need no mined negatives) and without gathering (so it does
not depend on the number of workers), and text-to-text Recall@K (:mod:`gre_ray.train.heldout`).
With ``signal`` references (held-out users of the training domains, :mod:`gre_ray.train.signal`,
written to storage by :mod:`gre_ray.train.signal_store`; each worker reads them on first use)
it also measures next-item retrieval, pair AUC and the unrelated-item cosine every epoch,
and one of them (``select_metric``) selects the best epoch: held-out pairs share users and counts with
the training pairs, so their Recall@K rewards memorising the relation however the rest of
the space bends.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import torch
from torch import Tensor, nn

from gre_ray.train.config import ContrastiveConfig, LossName
from gre_ray.train.heldout import recall_at_k, retrieval_task, stable_id
from gre_ray.train.losses import build_loss
from gre_ray.train.pooling import TextEncoder, embed_texts, tokenize
from gre_ray.train.signal import DomainSignal, measure
from gre_ray.train.signal_store import SignalRef, load_signals
from gre_ray.train.tasks.base import Task, enable_activation_checkpointing, to_device


def item_keys(domains: list[str], items: list[str]) -> Tensor:
    """(n,) int64 keys of (domain, item id): the same item gets the same key on every worker."""
    return stable_id([f"{d}\0{i}" for d, i in zip(domains, items)])


class ContrastiveTask(Task):
    """Pairs → encoder with pooling, trained with a contrastive loss.

    Args:
        settings: the ``contrastive`` section.
        model_path: the model to fine-tune (the ``backbone`` artifact or ``settings.model``).
        guide_path: the frozen guide of the gist loss.
        signal: references to the held-out users of the training domains (URIs and counts;
            empty: none), whose next-item NDCG then selects the best epoch. The signals
            themselves are read where the task is evaluated, once, and never pickled with it.
    """

    metric = "recall_at_k"
    mode = "max"

    def __init__(
        self, settings: ContrastiveConfig, model_path: str, guide_path: str = "", signal: list[SignalRef] | None = None
    ) -> None:
        self.settings = settings
        self.model_path = model_path
        self.guide_path = guide_path or model_path
        self.signal = list(signal or [])
        if self.signal:
            self.metric = settings.select_metric
        self.tokenizer = None
        self.guide_tokenizer = None
        self.guide: TextEncoder | None = None
        self._signals: list[DomainSignal] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_signals"] = None  # read again where the task lands: only the references travel
        return state

    def signals(self) -> list[DomainSignal]:
        """The held-out signals of :attr:`signal`, read from storage on the first call."""
        if self._signals is None:
            self._signals = load_signals(self.signal)
        return self._signals

    def _tokenizer(self):
        if self.tokenizer is None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self.tokenizer

    def build_model(self) -> nn.Module:
        from transformers import AutoModel

        backbone = AutoModel.from_pretrained(self.model_path, add_pooling_layer=False)
        if self.settings.optim.activation_checkpointing:
            enable_activation_checkpointing(backbone)
        return TextEncoder(backbone, self.settings.pooling)

    def setup(self, device: torch.device) -> None:
        if self.settings.loss is LossName.GIST and self.guide is None:
            from transformers import AutoModel

            backbone = AutoModel.from_pretrained(self.guide_path, add_pooling_layer=False)
            self.guide = TextEncoder(backbone, self.settings.pooling).to(device).eval().requires_grad_(False)

    def _loss(self, gather: bool):
        s = self.settings
        guide = (lambda f: self.guide(**f)) if self.guide is not None else None
        return build_loss(
            s.loss, temperature=s.temperature, gather_negatives=gather, mask_duplicates=s.mask_duplicates, guide=guide,
            uniformity=s.uniformity,
        )

    def collate(self, rows: pa.Table, rank: int = 0, *, hard_negatives: int | None = None) -> dict[str, Any]:
        """Tokenised query/positive/negative texts and item keys of a micro-batch.

        Args:
            rows: the micro-batch (``PAIRS_SCHEMA``).
            rank: the worker (unused: pairs need no per-worker randomness).
            hard_negatives: negatives per row (default ``settings.hard_negatives``; every
                row must have that many).

        Returns:
            ``query``, ``positive`` (and ``negatives``: B*K texts, row-major) feature
            dicts, ``query_ids`` (B,), ``positive_ids`` (B,) and ``negative_ids`` (B, K);
            for the gist loss also ``guide``, the same texts tokenised for the guide.
        """
        k = self.settings.hard_negatives if hard_negatives is None else hard_negatives
        domains = rows.column("domain").to_pylist()
        batch = self._features(rows, self._tokenizer(), k)
        batch["query_ids"] = item_keys(domains, rows.column("item_a").to_pylist())
        batch["positive_ids"] = item_keys(domains, rows.column("item_b").to_pylist())
        if k:
            neg_ids = [ids[:k] for ids in rows.column("neg_item_ids").to_pylist()]
            flat = item_keys([d for d in domains for _ in range(k)], [i for ids in neg_ids for i in ids])
            batch["negative_ids"] = flat.view(len(domains), k)
        if self.settings.loss is LossName.GIST:
            if self.guide_tokenizer is None:
                self.guide_tokenizer = _load_tokenizer(self.guide_path)
            batch["guide"] = self._features(rows, self.guide_tokenizer, k)
            if k:
                batch["guide"]["negative_ids"] = batch["negative_ids"]
        return batch

    def _features(self, rows: pa.Table, tokenizer, k: int) -> dict[str, Any]:
        """Query, positive and (B*K, row-major) negative texts tokenised with ``tokenizer``."""
        s = self.settings
        out = {
            "query": tokenize(tokenizer, rows.column("text_a").to_pylist(), s.max_length),
            "positive": tokenize(tokenizer, rows.column("text_b").to_pylist(), s.max_length),
        }
        if k:
            texts = [t for ts in rows.column("neg_texts").to_pylist() for t in ts[:k]]
            out["negatives"] = tokenize(tokenizer, texts, s.max_length)
        return out

    def loss(self, model: nn.Module, batch: dict[str, Any], *, gather: bool | None = None) -> Tensor:
        return self._loss(self.settings.gather_negatives if gather is None else gather)(lambda f: model(**f), batch)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, heldout: pa.Table, device: torch.device) -> dict[str, float]:
        s = self.settings
        losses = []
        for start in range(0, heldout.num_rows - 1, s.loop.batch_size):
            rows = heldout.slice(start, s.loop.batch_size)
            if rows.num_rows < 2:
                break
            batch = to_device(self.collate(rows, hard_negatives=0), device)
            losses.append(float(self.loss(model, batch, gather=False)))
        items_a, items_b = heldout.column("item_a").to_pylist(), heldout.column("item_b").to_pylist()
        text = dict(zip(items_a, heldout.column("text_a").to_pylist()))
        text.update(zip(items_b, heldout.column("text_b").to_pylist()))
        queries, corpus, relevant = retrieval_task(items_a, items_b)
        tok = self._tokenizer()
        embed = lambda **f: model(**f)  # noqa: E731
        q_emb = embed_texts(embed, tok, [text[q] for q in queries], s.max_length, s.loop.batch_size, device)
        c_emb = embed_texts(embed, tok, [text[c] for c in corpus], s.max_length, s.loop.batch_size, device)
        where = {c: i for i, c in enumerate(corpus)}
        recall = recall_at_k(q_emb, c_emb, relevant, s.recall_k, exclude=[where.get(q) for q in queries])
        out = {"heldout_loss": float(sum(losses) / max(len(losses), 1)), "recall_at_k": recall}
        if self.signal:
            out.update(self.measure_signal(embed, device))
        return out

    def measure_signal(self, embed, device: torch.device) -> dict[str, float]:
        """Next-item retrieval, pair AUC and unrelated cosine of ``embed`` on the held-out users."""
        s = self.settings
        tok = self._tokenizer()

        def vectors(texts: list[str]):  # scored where the worker trains (a GPU), a chunk of users at a time
            found = embed_texts(embed, tok, texts, s.max_length, 128, device)
            return found.numpy() if device.type == "cpu" else found.to(device)

        found = measure(self.signals(), vectors)
        return {k: float(v) for k, v in found.items() if k != "heldout_users"}

    def save(self, module: nn.Module, state_dict: dict[str, Tensor], folder: str) -> None:
        from gre_ray.train.export import save_encoder

        save_encoder(module, state_dict, self._tokenizer(), folder, self.settings.pooling, self.settings.max_length)


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)
