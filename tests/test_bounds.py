"""The declarative range check: bounds next to each field, rules across fields, one checker."""
import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from bench.bounds import Bounds, Rule, bounded, check_config, shown
from bench.config import build
from bench.errors import ConfigError, UnknownNameError
from bench.registry import DATASETS, ENCODERS, METHODS
from bench.train import TrainerConfig


@dataclass
class Example:
    rate: float = bounded(0.1, gt=0)
    count: int = bounded(2, ge=2, why="pairs")
    share: float = bounded(0.5, gt=0, le=1)
    sizes: tuple[int, ...] = bounded((1, 2), ge=1)
    free: float = 1.0
    low: int = 1
    high: int = 2

    rules: ClassVar = (Rule(lambda c: c.low <= c.high, "{where}.low={low} is above {where}.high={high}; swap them"),)


@dataclass
class Child(Example):
    rate: float = 0.5  # a new default only: keeps the base's bounds


@pytest.mark.parametrize("values, message", [
    ({"rate": 0.0}, "x.rate=0.0 must be > 0; set a value > 0 (default 0.1)"),
    ({"count": 1}, "x.count=1 must be >= 2 (pairs); set a value >= 2 (default 2)"),
    ({"share": 1.5}, "x.share=1.5 must be in (0, 1]; set a value in (0, 1] (default 0.5)"),
    ({"sizes": [1, 0]}, "x.sizes[1]=0 must be >= 1; set a value >= 1 (default [1, 2])"),
    ({"free": float("nan")}, "x.free=nan is not a finite number; set a finite value (default 1.0)"),
    ({"free": float("-inf")}, "x.free=-inf is not a finite number"),
    ({"low": 3}, "x.low=3 is above x.high=2; swap them"),
])
def test_each_bound_is_one_line_naming_key_range_and_default(values, message):
    with pytest.raises(ConfigError) as err:
        build(Example, values, "x")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_values_inside_bounds_pass_and_subclass_keeps_bounds():
    assert build(Example, {"rate": 1e-9, "count": 2, "share": 1.0, "sizes": [3]}, "x").sizes == (3,)
    with pytest.raises(ConfigError, match="x.rate=-1.0 must be > 0; set a value > 0 \\(default 0.5\\)"):
        build(Child, {"rate": -1.0}, "x")


def test_bounds_describe_and_contain():
    assert Bounds(ge=0, le=2**32 - 1).describe() == "in [0, 4294967295]"
    assert Bounds(gt=0, lt=1).describe() == "in (0, 1)" and Bounds(lt=0.5).describe() == "< 0.5"
    assert Bounds(gt=0).contains(1e-12) and not Bounds(gt=0).contains(0)


def test_shown_cuts_long_values():
    assert shown("abc") == "'abc'"
    text = shown("x" * 100_000)
    assert len(text) < 100 and text.endswith("... (100002 characters)")


def test_rule_with_its_own_error_class():
    with pytest.raises(UnknownNameError, match="unknown synthetic action 'squatt'"):
        build(DATASETS.get("synthetic").Config, {"actions": ["squatt"]}, "dataset")


@pytest.mark.parametrize("registry", [METHODS, DATASETS, ENCODERS])
def test_every_plugin_default_config_passes_its_own_bounds(registry):
    for name in registry.names():
        check_config(registry.get(name).Config(), name)
    check_config(TrainerConfig(), "trainer")


def test_every_float_field_of_every_config_rejects_nan():
    """No config escapes the finite check, whatever its bounds."""
    for registry in (METHODS, DATASETS, ENCODERS):
        for name in registry.names():
            cls = registry.get(name).Config
            for field in dataclasses.fields(cls):
                if field.type in ("float", float):
                    with pytest.raises(ConfigError, match="is not a finite number"):
                        build(cls, {field.name: float("nan")}, "section")
