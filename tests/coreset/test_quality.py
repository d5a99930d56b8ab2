"""Quality signals and the filter chain's per-domain counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gre_ray.coreset.config import QualityConfig
from gre_ray.coreset.filters import FilterLog, length_keep, symbols_keep, valid_vectors, words_keep
from gre_ray.coreset.quality import (
    QualityAnnotator,
    alpha_fraction,
    distinct_words,
    load_tokenizer,
    normalize_text,
    token_counts,
)

TEXTS = ["Hello,  WORLD!!", "Ultra-light 2-person tent; waterproof (3000 mm).", "12345 678 ###", "",
         "unbelievably long-winded résumé of naïve café owners"]


def test_normalisation_and_signals():
    assert normalize_text("  Hello,  WORLD!! ") == "hello world"
    assert normalize_text("snake_case—dash") == "snake case dash"
    assert distinct_words("red Red RED blue") == 2
    assert alpha_fraction("12345 678 ###") == 0.0
    assert alpha_fraction("ab12") == 0.5
    assert alpha_fraction("   ") == 1.0


def test_token_counts_match_transformers(minilm_path):
    from transformers import AutoTokenizer

    fast = load_tokenizer("minilm")  # the shipped MiniLM through ``tokenizers`` alone
    reference = AutoTokenizer.from_pretrained(minilm_path)
    long_text = " ".join(["word"] * 300)  # beyond the 128-token truncation stored in tokenizer.json
    texts = TEXTS + [long_text]
    expected = [len(reference(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert token_counts(fast, texts) == expected
    assert token_counts(reference, texts) == expected
    assert expected[-1] == 300


def test_annotator_adds_columns():
    out = QualityAnnotator("minilm")(pa.table({"text": TEXTS}))
    assert out.column_names == ["text", "token_count", "text_hash", "distinct_words", "alpha_fraction"]
    assert out.column("token_count")[3].as_py() == 0
    assert out.column("text_hash")[0].as_py() == out.column("text_hash")[0].as_py()
    assert len(out.column("text_hash")[0].as_py()) == 16


def test_filter_masks():
    cfg = QualityConfig(min_tokens=2, max_tokens=5, min_distinct_words=3, min_alpha_fraction=0.5)
    assert length_keep(np.array([1, 2, 5, 6]), cfg).tolist() == [False, True, True, False]
    assert words_keep(np.array([2, 3]), cfg).tolist() == [False, True]
    assert symbols_keep(np.array([0.49, 0.5], np.float32), cfg).tolist() == [False, True]
    v = np.array([[1, 0], [np.nan, 1], [0, 0], [np.inf, 0]], np.float32)
    assert valid_vectors(v).tolist() == [True, False, False, False]


def test_filter_log_counts_by_domain():
    log = FilterLog(np.array(["a", "a", "b", "b", "b"]), ["a", "b", "c"])
    assert log.apply("first", np.array([True, False, True, True, False])) == 2
    assert log.apply("second", np.array([True, False, True])) == 1  # over the 3 survivors
    first, second = log.as_dict()
    assert first["before"] == {"a": 2, "b": 3, "c": 0}
    assert first["removed"] == {"a": 1, "b": 1, "c": 0} and first["after"] == {"a": 1, "b": 2, "c": 0}
    assert second["removed"] == {"a": 0, "b": 1, "c": 0} and second["removed_total"] == 1
    assert log.rows.tolist() == [0, 3]
    with pytest.raises(ValueError, match="mask"):
        log.apply("bad", np.array([True]))
