"""Planted tiny data for the coreset stage tests, and fake upstream stages that write it.

The ``embed`` stage is another engineer's; these tests build the ``embeddings`` artifact
themselves (a stage registered only in the test registry) so they do not depend on it.

Planted rows (domain ``books`` unless said otherwise), one per filter:
``b_missing`` has no embedding, ``b_nan`` a NaN vector, ``b_short`` one token,
``b_words`` one distinct word, ``b_digits`` mostly digits, ``b_copy`` the text of
``b000`` up to case and punctuation, ``b_near`` the vector of ``b001`` plus tiny noise;
domain ``symbols`` holds only mostly-digit texts and ends up empty.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from gre_ray.data.schema import ITEMS_SCHEMA, embeddings_schema
from gre_ray.data.storage import write_table
from gre_ray.runner.stage import Stage, StageContext

DIM = 16
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def planted_items(n_books: int = 48, n_games: int = 12) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Item rows and item_id → vector, with the planted rows of the module docstring."""
    rng = np.random.default_rng(7)
    rows: list[dict] = []
    vectors: dict[str, np.ndarray] = {}

    def add(domain: str, item_id: str, text: str, vector: np.ndarray | None = None) -> None:
        rows.append({"domain": domain, "item_id": item_id, "text": text, "title": text[:20], "raw_json": "{}"})
        vectors[item_id] = rng.standard_normal(DIM).astype(np.float32) if vector is None else vector

    for domain, prefix, n in (("books", "b", n_books), ("games", "g", n_games)):
        for i in range(n):
            words = rng.choice(WORDS, size=6, replace=False)
            add(domain, f"{prefix}{i:03d}", f"{domain} item {i} " + " ".join(words))
    add("books", "b_missing", "a book with no embedding at all")
    add("books", "b_nan", "a book whose vector is broken", np.full(DIM, np.nan, np.float32))
    add("books", "b_short", "hello")
    add("books", "b_words", "again again again again")
    add("books", "b_digits", "12345 67890 2024 ### 99")
    add("books", "b_copy", "BOOKS   item 0, " + rows[0]["text"].split(" ", 3)[3].upper() + "!!")
    add("books", "b_near", "a different text with the same meaning", vectors["b001"] + 1e-4)
    for i in range(3):
        add("symbols", f"s{i}", f"{1000 + i} 555-{i:04d} ### %%%")
    del vectors["b_missing"]
    return rows, vectors


class FakeUpstream(Stage):
    """Writes the planted ``items`` and ``embeddings`` (test registry only)."""

    name = "fake_upstream"
    provides = ("items", "embeddings")
    n_books: ClassVar[int] = 48

    def settings(self, config: Any) -> Any:
        return {"n_books": self.n_books}

    def run(self, ctx: StageContext) -> None:
        rows, vectors = planted_items(self.n_books)
        write_table(pa.Table.from_pylist(rows, schema=ITEMS_SCHEMA), ctx.out("items"))
        ids = list(vectors)
        flat = pa.array(np.stack([vectors[i] for i in ids]).reshape(-1), pa.float32())
        emb = pa.Table.from_arrays([pa.array(ids, pa.string()), pa.FixedSizeListArray.from_arrays(flat, DIM)],
                                   schema=embeddings_schema(DIM))
        write_table(emb, ctx.out("embeddings"))
        ctx.count(rows_out=len(rows))


class FakeDomains(Stage):
    """Writes a ``domains`` artifact that marks ``games`` as a benchmark domain."""

    name = "fake_domains"
    provides = ("domains",)

    def settings(self, config: Any) -> Any:
        return {}

    def run(self, ctx: StageContext) -> None:
        roles = {"books": "train", "games": "benchmark", "symbols": "train"}
        write_table(pa.table({"domain": list(roles), "scenario": ["x"] * 3, "role": list(roles.values())}),
                    ctx.out("domains"))
