"""Strict configs: coercion, unknown keys, overrides, YAML, hashing."""
from dataclasses import dataclass
from typing import Literal

import pytest

from bench.config import build, coerce, load_yaml, merge, parse_overrides, stable_hash, to_dict
from bench.errors import ConfigError


@dataclass
class Example:
    rate: float = 0.1
    steps: int = 10
    flag: bool = False
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    path: str | None = None


def test_build_defaults_and_values():
    cfg = build(Example, {"rate": 1, "sizes": [3, 4], "path": "x"}, "method")
    assert cfg == Example(rate=1.0, sizes=(3, 4), path="x")
    assert isinstance(cfg.rate, float)


@pytest.mark.parametrize("values, needle", [
    ({"rat": 0.2}, "unknown config key 'method.rat' (did you mean 'method.rate'?)"),
    ({"steps": 1.5}, "method.steps=1.5 has the wrong type; expected int"),
    ({"steps": "ten"}, "method.steps='ten' has the wrong type"),
    ({"flag": 1}, "method.flag=1 has the wrong type; expected bool"),
    ({"kind": "c"}, "method.kind='c' is not one of ['a', 'b']"),
    ({"sizes": 3}, "expected a list"),
    ({"sizes": [1, "x"]}, "method.sizes[1]='x'"),
])
def test_build_rejects_bad_values(values, needle):
    with pytest.raises(ConfigError) as err:
        build(Example, values, "method")
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_coerce_optional_and_bool_not_int():
    assert coerce(None, str | None, "x") is None
    with pytest.raises(ConfigError):
        coerce(True, int, "x")


def test_scientific_notation_is_a_float(tmp_path):
    assert parse_overrides(["trainer.lr=1e-3", "trainer.x=-2E+2", "trainer.y=1.5e-2", "trainer.z=1e3x"]) == \
        {"trainer": {"lr": 1e-3, "x": -200.0, "y": 0.015, "z": "1e3x"}}
    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  lr: 3e-4\n")
    assert load_yaml(path) == {"trainer": {"lr": 3e-4}}


def test_parse_overrides_types_and_nesting():
    nested = parse_overrides(["method.tau=0.2", "trainer.steps=5", "protocol.fractions=[0.1, 1.0]",
                              "encoder.weights=null", "method.loss_type=classification"])
    assert nested == {"method": {"tau": 0.2, "loss_type": "classification"}, "trainer": {"steps": 5},
                      "protocol": {"fractions": [0.1, 1.0]}, "encoder": {"weights": None}}


@pytest.mark.parametrize("item", ["steps=5", "trainer.steps", ".x=1", "trainer..x=1"])
def test_parse_overrides_rejects_malformed(item):
    with pytest.raises(ConfigError):
        parse_overrides([item])


def test_merge_is_recursive_and_pure():
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    assert merge(base, {"a": {"y": 3}}) == {"a": {"x": 1, "y": 3}, "b": 1}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1}


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(scalar)


def test_stable_hash_ignores_key_order_and_sees_values():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert to_dict(Example()) ["sizes"] == [1, 2]
