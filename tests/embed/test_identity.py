"""Model identity: a Hub id pinned with ``@REVISION`` resolves to that commit of the Hub cache
and is recorded by it; a local folder is recorded by its content hash; the parameter count
is read from the safetensors header; ``datasets:`` of the card is what the model trained on."""

from __future__ import annotations

import shutil

import pytest

from gre_ray.embed.identity import card_datasets, model_identity, parameter_count, resolved_revision
from gre_ray.embed.model_folder import model_fingerprint, resolve_model_dir, split_revision
from gre_ray.errors import ConfigError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, tiny_bert_path, monkeypatch):
    """An offline Hub cache holding ``org/tiny`` at :data:`COMMIT` (ref ``main``)."""
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--org--tiny"
    shutil.copytree(tiny_bert_path, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return repo


def test_revision_is_split_from_hub_ids_only(tmp_path):
    assert split_revision("org/model@v1.2") == ("org/model", "v1.2")
    assert split_revision("org/model") == ("org/model", "")
    assert split_revision("s3://bucket/model@x") == ("s3://bucket/model@x", "")
    folder = tmp_path / "with@sign"
    folder.mkdir()
    assert split_revision(str(folder)) == (str(folder), "")


def test_a_pinned_hub_model_resolves_to_its_commit(hub_cache, tiny_bert_path):
    from transformers import AutoModel

    for name in (f"org/tiny@{COMMIT}", "org/tiny@main", "org/tiny"):
        identity = model_identity(name)
        assert identity["revision"] == COMMIT and identity["model"] == name
    assert identity["parameters"] == AutoModel.from_pretrained(tiny_bert_path).num_parameters()
    with pytest.raises(ConfigError, match=r"^encoder.model 'org/tiny@v9': not found"):
        resolve_model_dir("org/tiny@v9")


def test_a_local_folder_is_recorded_by_its_content_hash(tiny_bert_path):
    assert resolved_revision(tiny_bert_path) == f"sha256:{model_fingerprint(tiny_bert_path)}"
    assert parameter_count(tiny_bert_path) > 0


def test_the_card_datasets_are_what_the_model_trained_on(tmp_path):
    from gre_ray.train.export import write_model_card

    write_model_card(str(tmp_path), {"title": "t", "base_model": "b", "objective": "o",
                                     "trained_on": ["toys", "beauty"]})
    assert card_datasets(tmp_path) == ["beauty", "toys"]
    assert card_datasets(tmp_path / "nowhere") == []
