"""methods/untrained.py: the untrained-encoder baseline is registered, empty and never trained."""
import optuna
import pytest
import torch

from bench.config import build
from bench.errors import ConfigError
from bench.registry import METHODS
from methods.untrained import Untrained


def test_registered_as_random_and_not_trainable():
    assert METHODS.get("random") is Untrained
    assert Untrained.trainable is False


def test_config_is_empty_and_strict():
    build(Untrained.Config, {}, "method")
    with pytest.raises(ConfigError, match="unknown config key"):
        build(Untrained.Config, {"temperature": 0.1}, "method")


def test_search_space_is_empty():
    assert Untrained.search_space(optuna.trial.FixedTrial({})) == {}


def test_training_entry_points_raise_a_one_line_error():
    method = Untrained(Untrained.Config(), embed_dim=4)
    assert list(method.parameters()) == []
    with pytest.raises(ConfigError, match="never trained") as err:
        method.batch_spec()
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="never trained"):
        method.loss(None, torch.zeros(1, 1, 2, 4))
