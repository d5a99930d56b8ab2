"""Text vectors: loading against the contract, missing items, dimension checks, PCA; fusion modes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gre_ray.errors import ConfigError, DataError
from gre_ray.recsys import FusionConfig, FusionMode, ItemFeatures, Reduction, load_text_vectors
from gre_ray.recsys.text_vectors import TextVectors, reduce_text_vectors
from tests.recsys.synthetic import text_for


def test_load_aligns_to_split_items(tmp_path, synthetic, retrieval_split):
    path = tmp_path / "emb.parquet"
    table = synthetic.embeddings_table()
    pq.write_table(
        table.take(np.random.default_rng(0).permutation(table.num_rows)), path
    )  # row order is irrelevant
    text = load_text_vectors(path, retrieval_split.item_ids, expected_dim=16, dataset="syn")
    assert text.matrix.shape == (retrieval_split.n_items + 1, 16) and text.n_missing == 0
    assert not text.matrix[0].any()
    item = retrieval_split.item_ids[4]
    np.testing.assert_allclose(text.matrix[5], synthetic.item_text[item], rtol=1e-6)


def test_missing_items_error_or_counted_zero(tmp_path, synthetic, retrieval_split):
    path = tmp_path / "emb.parquet"
    kept = sorted(synthetic.item_text)[3:]
    pq.write_table(synthetic.embeddings_table(kept), path)
    with pytest.raises(DataError, match=r"emb.parquet: 3 of 120 items of dataset syn have no embedding"):
        load_text_vectors(path, retrieval_split.item_ids, dataset="syn")
    text = load_text_vectors(path, retrieval_split.item_ids, missing="zero", dataset="syn")
    assert text.n_missing == 3 and not text.matrix[1:4].any() and text.matrix[4:].any(1).all()
    features = ItemFeatures(
        retrieval_split.n_items, FusionConfig(mode="add", missing="zero"), text, retrieval_split.item_ids
    )
    assert features.n_missing == 3


def test_dimension_and_type_errors_name_the_file(tmp_path, synthetic, retrieval_split):
    path = tmp_path / "emb8.parquet"
    pq.write_table(synthetic.embeddings_table(dim_slice=8), path)
    with pytest.raises(DataError, match=r"emb8.parquet: embeddings have dimension 8, expected 16"):
        load_text_vectors(path, retrieval_split.item_ids, expected_dim=16)
    bad = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"item_id": ["a"], "embedding": pa.array([[1.0, 2.0]], pa.list_(pa.float64()))}), bad
    )
    with pytest.raises(
        DataError, match=r"bad.parquet: column 'embedding' is list<.*double>, expected fixed_size_list"
    ):
        load_text_vectors(bad, retrieval_split.item_ids)
    with pytest.raises(DataError, match="does not exist"):
        load_text_vectors(tmp_path / "none.parquet", retrieval_split.item_ids)


def test_text_vectors_must_match_the_split(synthetic, retrieval_split):

    text = text_for(synthetic, retrieval_split)
    with pytest.raises(ConfigError, match="needs text vectors"):
        ItemFeatures(retrieval_split.n_items, FusionConfig(mode="add"))
    with pytest.raises(ConfigError, match="aligned to 120 other items, not this split's 119"):
        ItemFeatures(119, FusionConfig(mode="add"), text)


def test_pca_and_whitening(synthetic, retrieval_split):

    text = text_for(synthetic, retrieval_split)
    pca = reduce_text_vectors(text, Reduction.PCA, 4)
    white = reduce_text_vectors(text, Reduction.WHITEN, 4)
    assert pca.matrix.shape == (121, 4) and not pca.matrix[0].any()
    cov = np.cov(white.matrix[1:].T)
    np.testing.assert_allclose(cov, np.eye(4), atol=1e-4)
    variances = pca.matrix[1:].var(0)
    assert (np.diff(variances) <= 1e-9).all()  # components by decreasing variance
    with pytest.raises(ConfigError, match="reduce_dim=99"):
        reduce_text_vectors(text, Reduction.PCA, 99)


def test_pca_with_every_component_only_centres_and_rotates():
    rng = np.random.default_rng(0)
    for n_items, dim in ((30, 8), (6, 16)):  # more items than dimensions, and fewer
        matrix = np.vstack([np.zeros(dim), rng.normal(size=(n_items, dim)) + 3.0]).astype(np.float32)
        present = np.arange(n_items + 1) > 0
        text = TextVectors(matrix, present, "synthetic", "digest", 0)
        out = reduce_text_vectors(text, Reduction.PCA)
        assert out.matrix.shape == (n_items + 1, min(n_items, dim))
        np.testing.assert_allclose(out.matrix[1:].mean(0), 0, atol=1e-5)
        before = np.linalg.norm(matrix[1:, None] - matrix[None, 1:], axis=-1)
        after = np.linalg.norm(out.matrix[1:, None] - out.matrix[None, 1:], axis=-1)
        np.testing.assert_allclose(after, before, atol=1e-4)


@pytest.mark.parametrize("mode", list(FusionMode))
def test_item_embedding_modes(mode, synthetic, retrieval_split):

    text = text_for(synthetic, retrieval_split)
    features = ItemFeatures(retrieval_split.n_items, FusionConfig(mode=mode), text, retrieval_split.item_ids)
    emb = features.embedding(8, with_bias=True)
    ids = torch.tensor([[0, 1, 2], [3, 0, 0], [0, 0, 0]])
    out, bias = emb.lookup(ids)
    assert out.shape == (3, 3, 8) and bias.shape == (3, 3)
    assert not out[0, 0].any() and not out[1, 1:].any() and not out[2].any() and bias[0, 0] == 0
    torch.testing.assert_close(emb(ids), out)
    mean, mean_bias = emb.mean(ids)  # pooled before the projection, equal to pooling after it
    torch.testing.assert_close(mean, torch.stack([out[0, 1:].mean(0), out[1, 0], out[2, 0]]))
    torch.testing.assert_close(mean_bias, torch.stack([bias[0, 1:].mean(), bias[1, 0], bias[2, 0]]))
    assert "text" not in emb.state_dict()  # frozen buffer, not a parameter or saved state
    assert (emb.id is None) == (mode == FusionMode.TEXT_ONLY)
    assert emb.all_items().shape == (retrieval_split.n_items + 1, 8)
    (out.sum() + mean.sum()).backward()
    trainable = {name for name, p in emb.named_parameters() if p.grad is not None}
    if mode != FusionMode.NONE:
        assert not emb.text.requires_grad and "proj.weight" in trainable
    assert ("id.weight" in trainable) == (mode != FusionMode.TEXT_ONLY)
