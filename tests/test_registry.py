"""Registries: lookup, did-you-mean errors, plugin discovery."""
import pytest

from bench.errors import UnknownNameError
from bench.registry import DATASETS, ENCODERS, METHODS, Registry


def test_unknown_name_suggests_close_match():
    with pytest.raises(UnknownNameError) as err:
        METHODS.get("sccl")
    message = str(err.value)
    assert message.startswith("unknown method 'sccl' (did you mean 'scl'?)")
    assert "tcc" in message and "\n" not in message


def test_unknown_name_without_close_match_lists_known():
    with pytest.raises(UnknownNameError) as err:
        DATASETS.get("zzzzzz")
    assert "did you mean" not in str(err.value) and "synthetic" in str(err.value)


def test_plugins_are_discovered():
    assert {"scl", "tcc", "random"} <= set(METHODS.names())
    assert "synthetic" in DATASETS.names()
    assert {"cnn_transformer", "cnn_conv3d", "resnet50_transformer"} <= set(ENCODERS.names())


def test_register_sets_name_and_rejects_duplicates():
    registry = Registry("thing")

    @registry.register("one")
    class One:
        pass

    assert One.name == "one" and registry.get("one") is One
    with pytest.raises(ValueError):
        registry.register("one")(type("Other", (), {}))
