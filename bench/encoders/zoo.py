"""The registered encoders: {small CNN, ResNet-50} x {transformer, conv3d context} heads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.encoders.backbones import ResNet50, SmallCNN
from bench.encoders.encoder import Encoder, EncoderConfig
from bench.encoders.heads import Conv3dContextHead, TransformerHead
from bench.registry import register_encoder


@dataclass
class Conv3dConfig(EncoderConfig):
    """TCC's embedder sees 2 context frames per frame (its num_context_steps)."""

    context_frames: int = 2


@dataclass
class ResNetConfig(EncoderConfig):
    """Paper-scale encoder (CARL): 224 px, ResNet-50 frozen to layer3, width 256."""

    image_size: int = 224
    hidden: int = 256
    heads: int = 8
    pool: Literal["avg", "flatten"] = "avg"
    frozen_until: Literal["none", "stem", "layer1", "layer2", "layer3", "layer4"] = "layer3"


@dataclass
class ResNetConv3dConfig(ResNetConfig):
    context_frames: int = 2


def _transformer(cfg: EncoderConfig, in_channels: int, map_size: int) -> TransformerHead:
    in_features = in_channels * (map_size ** 2 if cfg.pool == "flatten" else 1)
    return TransformerHead(in_features, cfg.hidden, cfg.embed_dim, cfg.layers, cfg.heads, cfg.dropout,
                           cfg.positional, cfg.pool)


def _conv3d(cfg: EncoderConfig, in_channels: int) -> Conv3dContextHead:
    return Conv3dContextHead(in_channels, cfg.hidden, cfg.embed_dim, cfg.dropout)


@register_encoder("cnn_transformer")
class CNNTransformer(Encoder):
    """Small CNN + transformer head: the harness's default encoder on a CPU."""

    def __init__(self, cfg: EncoderConfig):
        backbone = SmallCNN(cfg.cnn_channels)
        map_size = -(-cfg.image_size // 2 ** len(cfg.cnn_channels))
        super().__init__(cfg, backbone, _transformer(cfg, backbone.out_channels, map_size))


@register_encoder("cnn_conv3d")
class CNNConv3d(Encoder):
    """Small CNN + TCC's conv3d context embedder."""

    Config = Conv3dConfig

    def __init__(self, cfg: Conv3dConfig):
        backbone = SmallCNN(cfg.cnn_channels)
        super().__init__(cfg, backbone, _conv3d(cfg, backbone.out_channels))


@register_encoder("resnet50_transformer")
class ResNetTransformer(Encoder):
    """ResNet-50 (torchvision, optional) + transformer head: CARL / LRProp's encoder."""

    Config = ResNetConfig

    def __init__(self, cfg: ResNetConfig):
        backbone = ResNet50(cfg.weights, cfg.frozen_until)
        super().__init__(cfg, backbone, _transformer(cfg, backbone.out_channels, -(-cfg.image_size // 32)))


@register_encoder("resnet50_conv3d")
class ResNetConv3d(Encoder):
    """ResNet-50 to layer3 + conv3d context embedder: TCC / LAV's encoder."""

    Config = ResNetConv3dConfig

    def __init__(self, cfg: ResNetConv3dConfig):
        backbone = ResNet50(cfg.weights, cfg.frozen_until, layer="layer3")
        super().__init__(cfg, backbone, _conv3d(cfg, backbone.out_channels))
