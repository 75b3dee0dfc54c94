"""The registered encoders: the small CPU CNN and the papers' ResNet-50 setups, each with
a transformer or TCC's conv3d context head.

- ``cnn_transformer`` / ``cnn_conv3d``: the harness's CPU encoders (64 px, trained whole).
- ``resnet50_transformer``: CARL's encoder (Chen et al. 2022; LRProp and LAC build on it):
  ResNet-50 at 224 px with ImageNet normalisation, stem to layer3 frozen, layer4
  fine-tuned; average pool, FC 512 -> FC 512 -> 256, transformer (width 256, 8 heads,
  2 layers on Pouring, 3 on PennAction, LRProp 7) -> 128. LAC (its Sec. 4) takes conv4c
  features with a max pool instead: ``output=conv4c, pool=max``.
- ``resnet50_conv3d``: TCC's encoder (Dwibedi et al. 2019; LAV, Haresh et al. 2021, Sec.
  3.4): ResNet-50 conv4c features at 224 px (1024 x 14 x 14), frozen; 2 context frames
  15 frames apart; two 3x3x3 conv3d layers and two FC layers of 512 (TCC's 256 x its
  capacity scalar 2), global max pool, linear -> 128.

Departures, all switchable: no sine-cosine positions (``encoder.positional=true`` restores
CARL's; the harness's default, docs/DESIGN.md), GroupNorm in the conv3d head (TCC: BatchNorm,
see ``backbones.group_norm``), BatchNorm statistics frozen in the fine-tuned stage, and TCC's
backbone entirely frozen (TCC trained its BatchNorm parameters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.encoders.backbones import SmallCNN, resnet50_parts
from bench.encoders.encoder import Encoder, EncoderConfig
from bench.encoders.heads import Conv3dContextHead, TransformerHead
from bench.encoders.resnet import Output, output_channels
from bench.errors import ConfigError
from bench.registry import register_encoder


@dataclass
class Conv3dConfig(EncoderConfig):
    """TCC's embedder sees 2 context frames per frame (its num_context_steps)."""

    context_frames: int = 2


@dataclass
class ResNetBaseConfig(EncoderConfig):
    """What both ResNet-50 encoders share: 224 px (the papers'), where the backbone ends,
    where it is frozen, and the feature cache switch.

    ``cache``: train and evaluate on the frozen part's output, computed once per dataset
    (bench/feature_cache.py); the training views then get no pixel augmentation."""

    image_size: int = 224
    output: Output = "layer4"
    cache: bool = False

    def __post_init__(self) -> None:
        if self.cache and self.frozen_until == "none":
            raise ConfigError("encoder.cache=true needs frozen layers but encoder.frozen_until=none; "
                              "set encoder.cache=false or freeze stages (e.g. encoder.frozen_until=layer3)")


@dataclass
class ResNetConfig(ResNetBaseConfig):
    """CARL's encoder: layer4 fine-tuned on a frozen layer3, average pool, FC 512-512 -> 256,
    transformer of width 256 with 8 heads."""

    hidden: int = 256
    heads: int = 8
    pool: Literal["avg", "max", "flatten"] = "avg"
    fc_widths: tuple[int, ...] = (512, 512)


@dataclass
class ResNetConv3dConfig(ResNetBaseConfig):
    """TCC's encoder: conv4c, frozen; 2 context frames; conv3d and FC width 512."""

    output: Output = "conv4c"
    hidden: int = 512
    context_frames: int = 2


def _transformer(cfg: EncoderConfig, in_channels: int, map_size: int, fc_widths: tuple[int, ...]) -> TransformerHead:
    in_features = in_channels * (map_size ** 2 if cfg.pool == "flatten" else 1)
    return TransformerHead(in_features, cfg.hidden, cfg.embed_dim, cfg.layers, cfg.heads, cfg.dropout,
                           cfg.positional, cfg.pool, fc_widths)


def _conv3d(cfg: EncoderConfig, in_channels: int) -> Conv3dContextHead:
    return Conv3dContextHead(in_channels, cfg.hidden, cfg.embed_dim, cfg.dropout)


def _resnet_map_size(cfg: ResNetBaseConfig) -> int:
    """Side of ResNet-50's feature map: the image size / 16 (to layer3) or / 32 (layer4), rounded up."""
    stride = 32 if cfg.output == "layer4" else 16
    return -(-cfg.image_size // stride)


@register_encoder("cnn_transformer")
class CNNTransformer(Encoder):
    """Small CNN + transformer head: the harness's default encoder on a CPU."""

    def __init__(self, cfg: EncoderConfig):
        backbone = SmallCNN(cfg.cnn_channels)
        map_size = -(-cfg.image_size // 2 ** len(cfg.cnn_channels))
        super().__init__(cfg, backbone, _transformer(cfg, backbone.out_channels, map_size, (cfg.hidden,)))


@register_encoder("cnn_conv3d")
class CNNConv3d(Encoder):
    """Small CNN + TCC's conv3d context embedder."""

    Config = Conv3dConfig

    def __init__(self, cfg: Conv3dConfig):
        backbone = SmallCNN(cfg.cnn_channels)
        super().__init__(cfg, backbone, _conv3d(cfg, backbone.out_channels))


@register_encoder("resnet50_transformer")
class ResNetTransformer(Encoder):
    """ResNet-50, layer4 fine-tuned on a frozen layer3, + transformer: CARL / LRProp / LAC's encoder."""

    Config = ResNetConfig

    def __init__(self, cfg: ResNetConfig):
        frozen, trainable, name = resnet50_parts(cfg.output, cfg.frozen_until, cfg.weights)
        head = _transformer(cfg, output_channels(cfg.output), _resnet_map_size(cfg), cfg.fc_widths)
        super().__init__(cfg, trainable, head, frozen, name)


@register_encoder("resnet50_conv3d")
class ResNetConv3d(Encoder):
    """ResNet-50 conv4c features (frozen) + conv3d context embedder: TCC / LAV's encoder."""

    Config = ResNetConv3dConfig

    def __init__(self, cfg: ResNetConv3dConfig):
        frozen, trainable, name = resnet50_parts(cfg.output, cfg.frozen_until, cfg.weights)
        super().__init__(cfg, trainable, _conv3d(cfg, output_channels(cfg.output)), frozen, name)
