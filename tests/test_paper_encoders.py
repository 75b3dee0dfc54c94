"""Each method's paper encoder per dataset: valid configs, and how a run's encoder is chosen."""
import pytest

from bench.config import build
from bench.registry import ENCODERS, METHODS
from bench.run_config import resolve


@pytest.mark.parametrize("method", METHODS.names())
def test_paper_encoders_are_valid_configs(method):
    for dataset, entry in METHODS.get(method).paper_encoders.items():
        overrides = dict(entry)
        build(ENCODERS.get(overrides.pop("name")).Config, overrides, f"{method}.paper_encoders.{dataset}")


def test_the_papers_setups():
    def encoder(method, dataset):
        entry = dict(METHODS.get(method).paper_encoders[dataset])
        name = entry.pop("name")
        return name, build(ENCODERS.get(name).Config, entry, "encoder")

    name, cfg = encoder("scl", "penn_action")
    assert (name, cfg.layers, cfg.output, cfg.frozen_until, cfg.image_size, cfg.hidden) == (
        "resnet50_transformer", 3, "layer4", "layer3", 224, 256)
    assert encoder("scl", "pouring")[1].layers == 2 and encoder("lrprop", "pouring")[1].layers == 7
    name, cfg = encoder("lac", "penn_action")
    assert (cfg.output, cfg.pool, cfg.fc_widths) == ("conv4c", "max", (512,))
    name, cfg = encoder("tcc", "pouring")
    assert (name, cfg.output, cfg.context_frames, cfg.context_stride, cfg.hidden) == (
        "resnet50_conv3d", "conv4c", 2, 15, 512)
    assert METHODS.get("lav").paper_encoders == METHODS.get("tcc").paper_encoders
    name, cfg = encoder("lav", "ikea_asm")
    assert (name, cfg.output, cfg.frozen_until) == ("resnet50_conv3d", "layer4", "layer4")


def test_a_run_gets_the_paper_encoder_unless_it_names_one(monkeypatch):
    scl = METHODS.get("scl")
    monkeypatch.setattr(scl, "paper_encoders", {"synthetic": {"name": "resnet50_transformer", "layers": 3}})
    paper = resolve(method="scl", dataset="synthetic")
    assert paper.encoder_name == "resnet50_transformer" and paper.encoder.layers == 3
    assert resolve(method="scl", dataset="synthetic", overrides=["encoder.layers=5"]).encoder.layers == 5
    named = resolve(method="scl", dataset="synthetic", encoder="resnet50_transformer")
    assert named.encoder.layers == 2  # a named encoder is the same for every method: its own defaults
    assert resolve(method="scl", dataset="synthetic", encoder="cnn_transformer").encoder_name == "cnn_transformer"
    assert resolve(method="scl", dataset="synthetic", overrides=["encoder.name=cnn_conv3d"]).encoder_name == "cnn_conv3d"
    assert resolve(method="tcc", dataset="synthetic").encoder_name == "cnn_transformer"  # no entry: the default
