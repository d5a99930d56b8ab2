"""Build typed, nested config dataclasses from YAML, failing loudly on any mistake.

Why not a flat dict: a typo in a flat dict of settings is silently ignored (FuxiCTR's
``run_expid.py``); here every key is checked against the dataclass fields, an unknown key
is rejected with the valid names and the closest match, and every value is checked
against its annotation (``int``, ``float``, ``str``, ``bool``, enums, ``Literal``,
``Optional``, ``list``, ``tuple``, ``dict`` and nested dataclasses).

Dotted overrides (``--set train.lr=1e-4``) are applied to the raw mapping before
conversion, so they get the same checks as the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from gre_ray.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to annotation ``tp``, raising ConfigError that names ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}{_closest(str(value), [str(a) for a in args])}")
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        valid = [m.value for m in tp]
        if isinstance(value, tp):
            return value
        if value not in valid:
            raise ConfigError(
                f"{key}: {value!r} is not one of {', '.join(map(str, valid))}{_closest(str(value), [str(v) for v in valid])}"
            )
        return tp(value)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} settings, got {type(value).__name__} {value!r}")
        return build(tp, value, prefix=key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        k_tp, v_tp = args if args else (Any, Any)
        return {_convert(k, k_tp, f"{key}.<key>"): _convert(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {type(value).__name__} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads 1e-4 (no dot) as a string
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
    raise TypeError(f"config annotation {tp!r} at {key} is not supported")


def build(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking every key and value.

    Args:
        cls: a dataclass type whose fields may themselves be dataclasses.
        data: the raw mapping (from YAML).
        prefix: the dotted path of ``data`` in the whole config, for messages.

    Returns:
        An instance of ``cls``; fields absent from ``data`` take their defaults.

    Raises:
        ConfigError: an unknown key (with the valid names and the closest match), a value
            of the wrong type, or a required field that is missing.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    where = f"{prefix}." if prefix else ""
    for name in data:
        if name not in fields:
            raise ConfigError(
                f"unknown config key {where}{name!r}{_closest(str(name), list(fields))} "
                f"(valid keys{' under ' + prefix if prefix else ''}: {', '.join(fields)})"
            )
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{where}{name}")
        elif field.default is _MISSING and field.default_factory is _MISSING:
            raise ConfigError(f"missing required config key {where}{name}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # raised by __post_init__ validation
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from None


@functools.lru_cache(maxsize=None)
def _coercions(cls: type) -> tuple[tuple[str, Any], ...]:
    """(field, enum type or ``tuple``) for every field of ``cls`` that :func:`coerce_fields` converts."""
    out = []
    for name, tp in typing.get_type_hints(cls).items():
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            out.append((name, tp))
        elif typing.get_origin(tp) is tuple or tp is tuple:
            out.append((name, tuple))
    return tuple(out)


def coerce_fields(obj: Any) -> None:
    """Give a (frozen) dataclass built in code the types the loader would give it.

    Called first in ``__post_init__``: a field annotated with an enum that holds the
    enum's value becomes the member, and a field annotated ``tuple[...]`` that holds a
    list (any iterable) becomes a tuple, so ``SASRecConfig(loss="bce")`` equals ``SASRecConfig(loss=SASRecLoss.BCE)``.

    Raises:
        ValueError: a value that is not one of its enum's values.
    """
    for name, tp in _coercions(type(obj)):
        value = getattr(obj, name)
        if tp is tuple:
            if not isinstance(value, tuple):
                object.__setattr__(obj, name, tuple(value))
        elif not isinstance(value, tp):
            object.__setattr__(obj, name, tp(value))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"train.lr=1e-4"`` into (["train", "lr"], 1e-4); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    path, raw = text.split("=", 1)
    parts = [p for p in path.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted overrides to a raw config mapping in place and return it."""
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_utf8(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file; a file in another encoding is one ConfigError naming its line and column.

    Args:
        path: the file.
        what: how messages name it, e.g. ``config file`` or ``registry``.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{what} {path}:{line}:{column}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = read_utf8(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def to_dict(obj: Any) -> Any:
    """A plain YAML/JSON-ready structure from a config dataclass (enums as their values)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj
