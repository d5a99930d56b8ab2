"""Typed configs: unknown keys with suggestions, type checks, overrides, every YAML loads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from gre_ray.config.loader import apply_overrides, build, read_yaml, to_dict
from gre_ray.demo.generator import DemoSize
from gre_ray.errors import ConfigError
from gre_ray.root_config import GreConfig, StageName, load_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Inner:
    lr: float = 1e-3
    steps: int = 10
    color: Color = Color.RED
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    names: list[str] = field(default_factory=list)
    limit: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)


def test_builds_nested_values_with_types():
    cfg = build(Outer, {"inner": {"lr": "1e-4", "steps": 3, "color": "blue", "mode": "b"}, "names": ["x"], "limit": 5})
    assert cfg.inner.lr == pytest.approx(1e-4)
    assert cfg.inner.steps == 3 and cfg.inner.color is Color.BLUE and cfg.inner.mode == "b"
    assert cfg.names == ["x"] and cfg.limit == 5


def test_unknown_key_lists_valid_keys_and_closest_match():
    with pytest.raises(ConfigError) as err:
        build(Outer, {"inner": {"lrr": 0.1}})
    message = str(err.value)
    assert "inner.'lrr'" in message or "'lrr'" in message
    assert "did you mean 'lr'?" in message
    assert "lr, steps, color, mode" in message


def test_top_level_typo_in_real_config_gets_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'demo_data'"):
        load_config(None, ["demo_dat.seed=1"])


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"inner": {"steps": "ten"}}, "inner.steps: expected an integer"),
        ({"inner": {"steps": True}}, "inner.steps: expected an integer"),
        ({"inner": {"lr": [1]}}, "inner.lr: expected a number"),
        ({"inner": {"color": "green"}}, "inner.color: 'green' is not one of red, blue"),
        ({"inner": {"mode": "c"}}, "inner.mode: 'c' is not one of 'a', 'b'"),
        ({"names": "x"}, "names: expected a list"),
        ({"inner": 3}, "inner: expected a mapping"),
        ({"flags": {"a": "yes"}}, "flags.a: expected true or false"),
    ],
)
def test_wrong_types_name_the_key(data, expected):
    with pytest.raises(ConfigError) as err:
        build(Outer, data)
    assert expected in str(err.value)


def test_post_init_validation_becomes_config_error_naming_section():
    with pytest.raises(ConfigError, match="demo_data: p_complement \\+ p_similar"):
        load_config(None, ["demo_data.p_complement=0.8", "demo_data.p_similar=0.5"])


def test_dotted_overrides_are_typed_like_the_file():
    cfg = load_config(None, ["demo_data.size=tiny", "demo_data.seed=7", "run.root=/tmp/x", "run.stages=[demo_data]"])
    assert cfg.demo_data.size is DemoSize.TINY
    assert cfg.demo_data.seed == 7
    assert cfg.run.stages == [StageName.DEMO_DATA]
    with pytest.raises(ConfigError, match="demo_data.seed: expected an integer"):
        load_config(None, ["demo_data.seed=abc"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        apply_overrides({}, ["run.root"])
    with pytest.raises(ConfigError, match="is not a section"):
        apply_overrides({"run": 3}, ["run.root=x"])


def test_yaml_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  root: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: invalid YAML"):
        read_yaml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(listy)


def test_to_dict_round_trips():
    cfg = load_config(None, ["demo_data.size=tiny"])
    again = build(GreConfig, to_dict(cfg))
    assert again == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_file_loads(path):
    cfg = load_config(path)
    assert cfg.run.stages, f"{path.name} lists no stages"


def test_every_real_config_has_a_smoke_twin():
    names = {p.name for p in CONFIGS}
    for name in names:
        if ".smoke." not in name:
            assert name.replace(".yaml", ".smoke.yaml") in names, f"{name} has no smoke twin"
