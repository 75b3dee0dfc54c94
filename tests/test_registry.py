"""Registries: lookup, did-you-mean errors, plugin discovery."""
import subprocess
import sys

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


def test_plugins_load_once_for_threads_started_together():
    """A thread that asks while another is importing the plugins waits for all of them (a
    fresh process, so the plugins are not imported yet)."""
    code = ("import threading\nfrom bench.registry import METHODS\nout = []\n"
            "ts = [threading.Thread(target=lambda: out.append(len(METHODS.names()))) for _ in range(4)]\n"
            "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(*out)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    counts = [int(n) for n in result.stdout.split()]
    assert len(counts) == 4 and len(set(counts)) == 1 and counts[0] >= 8, result.stdout + result.stderr
