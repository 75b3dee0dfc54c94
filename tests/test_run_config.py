"""Run config resolution: layers, names, variants, presets, strictness."""
import pytest

from bench.errors import ConfigError, UnknownNameError
from bench.registry import DATASETS, METHODS
from bench.run_config import resolve


def test_defaults_resolve_for_every_method():
    for name in METHODS.names():
        resolved = resolve(method=name)
        assert resolved.as_dict()["method"]["name"] == name


def test_layers_dataset_then_user():
    synthetic = DATASETS.get("synthetic")
    resolved = resolve(method="scl", overrides=["trainer.lr=0.5"])
    assert resolved.trainer.lr == 0.5
    if "steps" in synthetic.trainer_defaults:
        assert resolved.trainer.steps == synthetic.trainer_defaults["steps"]


def test_yaml_file_and_override_precedence(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nmethod:\n  name: tcc\n  temperature: 0.5\ntrainer:\n  steps: 7\n")
    resolved = resolve(config_file=str(path), overrides=["trainer.steps=9"])
    assert (resolved.method_name, resolved.seed, resolved.method.temperature, resolved.trainer.steps) == \
        ("tcc", 3, 0.5, 9)


def test_protocol_preset_applies_before_user_values():
    resolved = resolve(method="scl", protocol="tcc", overrides=["protocol.tau_stride=3"])
    assert resolved.protocol.fraction_selection == "first" and resolved.protocol.tau_stride == 3
    assert resolved.protocol.name == "tcc"


def test_dataset_preset_defaults_apply_under_their_preset_only(monkeypatch):
    synthetic = DATASETS.get("synthetic")
    monkeypatch.setattr(synthetic, "preset_defaults", {"carl": {"tau_stride": 2}})
    assert resolve(method="scl", protocol="carl").protocol.tau_stride == 2
    assert resolve(method="scl", protocol="tcc").protocol.tau_stride == 5
    assert resolve(method="scl", protocol="carl", overrides=["protocol.tau_stride=4"]).protocol.tau_stride == 4


def test_variant_applies_its_overrides():
    tcc = METHODS.get("tcc")
    name, values = next(iter(tcc.variants.items()))
    resolved = resolve(method="tcc", variant=name)
    for key, value in values.items():
        assert getattr(resolved.method, key) == value


@pytest.mark.parametrize("kwargs, error, needle", [
    ({"method": "lrpropp"}, UnknownNameError, "unknown method"),
    ({"dataset": "pourin"}, UnknownNameError, "unknown dataset"),
    ({"encoder": "cnn"}, UnknownNameError, "unknown encoder"),
    ({"protocol": "svm"}, UnknownNameError, "unknown protocol preset"),
    ({"method": "tcc", "variant": "nope"}, UnknownNameError, "unknown variant of tcc"),
    ({"overrides": ["trainer.stepz=1"]}, ConfigError, "did you mean 'trainer.steps'"),
    ({"overrides": ["trainer.steps=abc"]}, ConfigError, "trainer.steps='abc' has the wrong type"),
    ({"overrides": ["trainr.steps=1"]}, ConfigError, "unknown config section 'trainr'"),
    ({"overrides": ["method.nonexistent=1"]}, ConfigError, "unknown config key 'method.nonexistent'"),
])
def test_bad_input_is_one_clear_error(kwargs, error, needle):
    with pytest.raises(error) as err:
        resolve(**kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_as_dict_is_json_ready_and_complete():
    data = resolve(method="scl").as_dict()
    assert set(data) == {"seed", "method", "dataset", "encoder", "trainer", "protocol"}
    assert isinstance(data["protocol"]["fractions"], list)
