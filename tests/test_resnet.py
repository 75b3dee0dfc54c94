"""ResNet-50 without torchvision: torchvision-layout weights load, and the module equals a
plain functional forward written here; the frozen / trainable split and its BatchNorm."""
import pytest
import torch
import torch.nn.functional as F

from bench.config import build
from bench.encoders.backbones import IMAGENET_MEAN, IMAGENET_STD, resnet50_parts
from bench.encoders.resnet import ResNet50
from bench.encoders.weights import load_weights
from bench.errors import ConfigError, DataError
from bench.registry import ENCODERS

# torchvision's resnet50: (stage, blocks, width); a block's output has 4 x width channels
LAYOUT = (("layer1", 3, 64), ("layer2", 4, 128), ("layer3", 6, 256), ("layer4", 3, 512))


def _bn(state, prefix, channels, gen):
    state[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(channels, generator=gen, dtype=torch.float64)
    state[f"{prefix}.bias"] = 0.1 * torch.randn(channels, generator=gen, dtype=torch.float64)
    state[f"{prefix}.running_mean"] = 0.1 * torch.randn(channels, generator=gen, dtype=torch.float64)
    state[f"{prefix}.running_var"] = 0.5 + torch.rand(channels, generator=gen, dtype=torch.float64)
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _conv(state, key, out_c, in_c, k, gen):
    state[key] = torch.randn(out_c, in_c, k, k, generator=gen, dtype=torch.float64) * (2.0 / (in_c * k * k)) ** 0.5


def torchvision_state(seed=0):
    """Random weights under every key of torchvision's resnet50().state_dict(), float64."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    _conv(state, "conv1.weight", 64, 3, 7, gen)
    _bn(state, "bn1", 64, gen)
    channels = 64
    for stage, blocks, width in LAYOUT:
        for b in range(blocks):
            p = f"{stage}.{b}"
            _conv(state, f"{p}.conv1.weight", width, channels, 1, gen)
            _bn(state, f"{p}.bn1", width, gen)
            _conv(state, f"{p}.conv2.weight", width, width, 3, gen)
            _bn(state, f"{p}.bn2", width, gen)
            _conv(state, f"{p}.conv3.weight", 4 * width, width, 1, gen)
            _bn(state, f"{p}.bn3", 4 * width, gen)
            if b == 0:
                _conv(state, f"{p}.downsample.0.weight", 4 * width, channels, 1, gen)
                _bn(state, f"{p}.downsample.1", 4 * width, gen)
            channels = 4 * width
    state["fc.weight"] = torch.randn(1000, 2048, generator=gen, dtype=torch.float64)
    state["fc.bias"] = torch.zeros(1000, dtype=torch.float64)
    return state


def reference_forward(state, x, stop_after):
    """The ResNet-50 forward written out with F.conv2d / F.batch_norm (inference statistics),
    the stride of a downsampling block on its 3x3 conv (torchvision's v1.5). Returns the
    activation after block ``stop_after`` = (stage, block index)."""
    def bn(h, p):
        return F.batch_norm(h, state[f"{p}.running_mean"], state[f"{p}.running_var"], state[f"{p}.weight"],
                            state[f"{p}.bias"], training=False, eps=1e-5)

    h = F.relu(bn(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), "bn1"))
    h = F.max_pool2d(h, 3, stride=2, padding=1)
    for s, (stage, blocks, _) in enumerate(LAYOUT):
        for b in range(blocks):
            p = f"{stage}.{b}"
            stride = 2 if (b == 0 and s > 0) else 1
            y = F.relu(bn(F.conv2d(h, state[f"{p}.conv1.weight"]), f"{p}.bn1"))
            y = F.relu(bn(F.conv2d(y, state[f"{p}.conv2.weight"], stride=stride, padding=1), f"{p}.bn2"))
            y = bn(F.conv2d(y, state[f"{p}.conv3.weight"]), f"{p}.bn3")
            shortcut = h
            if b == 0:
                shortcut = bn(F.conv2d(h, state[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1")
            h = F.relu(y + shortcut)
            if (stage, b) == stop_after:
                return h
    raise AssertionError(stop_after)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in torchvision_state().items()}, path)
    return path


@pytest.mark.parametrize(("output", "stop_after"), [("layer4", ("layer4", 2)), ("layer3", ("layer3", 5)),
                                                     ("conv4c", ("layer3", 2))])
def test_loaded_module_equals_reference_forward(weights_file, output, stop_after):
    net = ResNet50(output)
    load_weights(net, str(weights_file))
    net = net.double().eval()
    x = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = {k: v.double() if v.is_floating_point() else v for k, v in torch.load(weights_file).items()}
    expected = reference_forward(state, x, stop_after)
    with torch.no_grad():
        out = net(x)
    assert out.shape == expected.shape == (2, 2048 if output == "layer4" else 1024, *expected.shape[2:])
    assert torch.allclose(out, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())


def test_frozen_part_normalises_and_stays_frozen_while_layer4_trains(weights_file):
    frozen, trainable, name = resnet50_parts("layer4", "layer3", str(weights_file))
    assert name == "resnet50-to-layer3" and list(trainable._modules) == ["layer4"]
    assert list(frozen._modules) == ["normalise", "stem", "layer1", "layer2", "layer3"]
    state = {k: v.double() if v.is_floating_point() else v for k, v in torch.load(weights_file).items()}
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    # the module keeps the constants as float32 buffers: the reference uses the same numbers
    mean = torch.tensor(IMAGENET_MEAN).double().view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).double().view(1, 3, 1, 1)
    with torch.no_grad():
        out = trainable.double()(frozen.double()(x))
    assert torch.allclose(out, reference_forward(state, (x - mean) / std, ("layer4", 2)), rtol=1e-9, atol=1e-9)

    encoder = ENCODERS.get("resnet50_transformer")(build(ENCODERS.get("resnet50_transformer").Config, {
        "image_size": 32, "weights": str(weights_file), "hidden": 8, "heads": 2, "layers": 1,
        "fc_widths": [8], "embed_dim": 4, "dropout": 0.0}, "encoder")).train()
    assert not any(p.requires_grad for p in encoder.frozen.parameters())
    assert not encoder.frozen.training and encoder.backbone.training
    bn = encoder.backbone.layer4[0].bn1
    assert not bn.training and bn.weight.requires_grad  # statistics frozen, affine parameters train
    before = bn.running_mean.clone()
    encoder(torch.rand(1, 3, 1, 3, 32, 32), torch.ones(1, 3, dtype=torch.bool)).sum().backward()
    assert torch.equal(bn.running_mean, before)
    assert encoder.backbone.layer4[0].conv1.weight.grad is not None
    assert all(p.grad is None for p in encoder.frozen.parameters())


def test_conv3d_encoder_is_frozen_to_conv4c():
    cls = ENCODERS.get("resnet50_conv3d")
    encoder = cls(build(cls.Config, {"image_size": 32, "hidden": 8, "embed_dim": 4}, "encoder"))
    assert encoder.frozen_name == "resnet50-to-conv4c" and len(encoder.frozen.layer3) == 3
    assert sum(p.numel() for p in encoder.backbone.parameters()) == 0
    out = encoder(torch.rand(1, 2, 2, 3, 32, 32), torch.ones(1, 2, dtype=torch.bool))
    assert out.shape == (1, 2, 4)


def test_wrapped_state_dict_loads(tmp_path, weights_file):
    state = torch.load(weights_file)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    net = ResNet50("conv4c")
    load_weights(net, str(path))
    assert torch.equal(net.layer3[2].conv2.weight, state["layer3.2.conv2.weight"])


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    (b"not a checkpoint", "not a readable torch state dict"),
    ({"online_network.encoder.conv1.weight": torch.zeros(64, 3, 7, 7)}, "has no 'conv1.weight'"),
    ({"conv1.weight": torch.zeros(64, 3, 3, 3)}, "has no 'bn1.weight'"),
])
def test_bad_weights_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "w.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(DataError, match=message):
        load_weights(ResNet50("layer4"), str(path))


def test_wrong_shape_is_named(tmp_path, weights_file):
    state = torch.load(weights_file)
    state["layer2.1.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(DataError, match=r"'layer2.1.conv2.weight' has shape \(128, 128, 1, 1\)"):
        load_weights(ResNet50("layer4"), str(tmp_path / "w.pth"))


def test_imagenet_reads_torch_hubs_cache_only(tmp_path, monkeypatch, weights_file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DataError, match=f"not cached at {tmp_path}/hub/checkpoints/resnet50-0676ba61.pth"):
        load_weights(ResNet50("layer4"), "imagenet")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth").write_bytes(weights_file.read_bytes())
    net = ResNet50("layer4")
    load_weights(net, "imagenet")
    assert torch.equal(net.conv1.weight, torch.load(weights_file)["conv1.weight"])


def test_cache_needs_frozen_layers():
    cls = ENCODERS.get("resnet50_transformer")
    with pytest.raises(ConfigError, match="encoder.cache=true needs frozen layers"):
        build(cls.Config, {"cache": True, "frozen_until": "none"}, "encoder")
