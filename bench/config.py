"""Strict dataclass configs: YAML files, dotted ``--set`` overrides, a resolved dump and hash.

Every plugin (method, dataset, encoder) and the trainer and protocol have a dataclass
config whose defaults are the paper values. A run's config is resolved in layers, later
layers winning:

    class defaults -> dataset's trainer defaults -> method's per-dataset defaults
    -> variant -> YAML file -> ``--set section.key=value`` overrides

Unknown keys, values of the wrong type and values outside a field's declared range
(bench/bounds.py) raise ``ConfigError`` with one line that names the key and the fix. The
resolved config is a plain nested dict; its hash names the run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from bench.bounds import check_config, shown
from bench.errors import ConfigError
from bench.registry import unknown_name_message


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ConfigError naming ``where``.

    Accepts exact types, ints for floats, lists for tuples, None for Optional, and
    members of a Literal. Strings are never silently parsed here (``parse_value`` does that
    for command-line text).
    """
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}={shown(value)} is not one of {list(get_args(tp))}; set one of those")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(f"{where}={shown(value)} has the wrong type; expected {_type_name(tp)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={shown(value)} has the wrong type; expected a list such as [1, 2]")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={shown(value)} has the wrong type; expected a mapping")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(
        f"{where}={shown(value)} has the wrong type; expected {_type_name(tp)}"
    )


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; users mean a float. Teach it YAML 1.2's
    float syntax, so ``lr: 1e-3`` and ``--set trainer.lr=1e-3`` are numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def parse_value(text: str) -> Any:
    """Parse command-line text as YAML (``0.1`` / ``1e-3`` -> float, ``[1,2]`` -> list, ``null``)."""
    try:
        return yaml_load(text)
    except yaml.YAMLError:
        return text


def build(cls: type, values: dict[str, Any] | None, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``, strictly (unknown keys are errors), and
    check every field against its declared range (bench.bounds.check_config)."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ConfigError(unknown_name_message("config key", f"{where}.{unknown[0]}",
                                               [f"{where}.{k}" for k in fields]))
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    cfg = cls(**kwargs)
    check_config(cfg, where)
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as a plain dict of JSON types (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict update that returns a new dict."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


TOP_LEVEL_KEYS = ("seed",)
"""Keys of a run config that sit outside the sections (``--set seed=5``, ``seed: 5`` in YAML)."""


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["method.tau=0.2", "trainer.steps=10", "seed=3"]`` -> nested dict of parsed values."""
    nested: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {shown(item)} is not key=value; write it as section.key=value")
        path, _, text = item.partition("=")
        keys = path.strip().split(".")
        if not all(keys) or (len(keys) < 2 and keys[0] not in TOP_LEVEL_KEYS):
            raise ConfigError(f"--set {shown(item)} needs a section, e.g. method.tau=0.1 or trainer.steps=100 "
                              "(the seed is --set seed=N or --seed N)")
        node = nested
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {shown(item)} conflicts with another override of {key}")
        node[keys[-1]] = parse_value(text)
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict; a missing, unreadable or malformed file is a ConfigError
    naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; pass a YAML file such as {path}/run.yaml")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the path")
    try:
        data = yaml_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not text (byte {err.start} is not UTF-8); "
                          "pass a YAML file with method:/trainer:/... sections") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{at} ({err.__class__.__name__}); "
                          "fix its syntax") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections (method:, trainer:, ...)")
    return data


def stable_hash(data: Any, length: int = 12) -> str:
    """A short sha256 of canonical JSON (sorted keys), stable across runs and machines."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
