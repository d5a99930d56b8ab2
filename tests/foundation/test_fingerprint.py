"""Stage fingerprints hold content only: settings that change speed, not output, rerun nothing."""

from __future__ import annotations

import pytest

from gre_ray.config.loader import to_dict
from gre_ray.root_config import GreConfig, load_config
from gre_ray.runner.manifest import content_settings, stage_fingerprint
from gre_ray.stages import registry


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_speed_setting_names_a_setting_of_its_stage(name):
    stage = registry()[name]()
    settings = stage.settings(GreConfig())
    plain = content_settings(settings, stage.speed_settings)
    full = to_dict(settings)
    for key in stage.speed_settings:
        *parents, leaf = key.split(".")
        node_full, node = full, plain
        for part in parents:
            node_full, node = node_full[part], node[part]
        assert leaf in node_full and leaf not in node


def test_unknown_speed_setting_is_an_error():
    with pytest.raises(KeyError, match="'selection.chunk_sise'"):
        content_settings(GreConfig().coreset, ("selection.chunk_sise",))


def test_embed_fingerprint_ignores_speed_and_follows_content():
    def fingerprint(*overrides):
        config = load_config(None, list(overrides))
        return stage_fingerprint("embed", 1, config.embed, {}, {}, registry()["embed"].speed_settings)

    base = fingerprint()
    assert fingerprint("embed.actors=3", "embed.token_budget=512", "embed.rows_per_call=7", "embed.num_gpus=0.5") == base
    assert fingerprint("embed.encoder.max_length=64") != base


def test_changing_embed_actors_reruns_nothing(ray_session, tiny_bert_path, tmp_path):
    from gre_ray.pipeline import run_config

    common = [f"run.root={tmp_path / 'run'}", "run.stages=[demo_data, embed, pairs]", "demo_data.size=tiny",
              "demo_data.domains=[fiction, videogames]", f"embed.encoder.model={tiny_bert_path}"]  # fmt: skip
    first = run_config(load_config(None, [*common, "embed.actors=1", "embed.rows_per_call=32"]))
    assert [o.status for o in first] == ["ran", "ran", "ran"]
    again = run_config(load_config(None, [*common, "embed.actors=2", "embed.rows_per_call=64", "embed.token_budget=2048"]))
    assert [o.status for o in again] == ["skipped", "skipped", "skipped"]
    assert [o.fingerprint for o in again] == [o.fingerprint for o in first]
    assert again[1].manifest["settings"]["actors"] == 1, "the manifest keeps the settings the output was made with"
