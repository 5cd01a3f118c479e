"""The encoder rewritten for the one input size the model uses: what caption.train.export
exports for ONNX Runtime.

EfficientNet-Lite's TensorFlow-style 'SAME' padding depends on the input size, so the eager
encoder computes it on every call and cannot be traced. Fixed to the bundle's input size, the
padding becomes constant and each BatchNorm folds into its convolution, which makes a graph
ONNX Runtime fuses well (`python -m bench.encoder` times what serves).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from caption.train.networks.efficientnet_lite import (
    EfficientNetLite,
    MBConvBlock,
    SamePadConv2d,
    same_padding,
)


def _plain(conv: SamePadConv2d, size: int) -> tuple[nn.Module, int]:
    """A SamePadConv2d as fixed padding + an ordinary convolution, for inputs of side `size`."""
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    out = nn.Conv2d(conv.in_channels, conv.out_channels, kernel, stride,
                    padding=kernel // 2 if stride == 1 else 0, groups=conv.groups,
                    bias=False).eval()
    out.weight = conv.weight
    if stride == 1:
        return out, size
    pad = nn.ZeroPad2d((*same_padding(size, kernel, stride),) * 2)
    return nn.Sequential(pad, out), math.ceil(size / stride)


def _fuse(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    if isinstance(conv, nn.Sequential):  # (pad, conv)
        return nn.Sequential(conv[0], fuse_conv_bn_eval(conv[1], bn))
    return fuse_conv_bn_eval(conv, bn)


def _relu6() -> nn.Module:
    # In place: a convolution's output is fresh, and every new activation-sized buffer costs the
    # allocator page faults; out of place, ReLU6 took a third of this encoder's time.
    return nn.ReLU6(inplace=True)


class _Block(nn.Module):
    def __init__(self, block: MBConvBlock, size: int):
        super().__init__()
        self.expand = (nn.Sequential(fuse_conv_bn_eval(block._expand_conv, block._bn0),
                                     _relu6()) if block.expands else nn.Identity())
        depthwise, self.out_size = _plain(block._depthwise_conv, size)
        self.depthwise = nn.Sequential(_fuse(depthwise, block._bn1), _relu6())
        self.project = fuse_conv_bn_eval(block._project_conv, block._bn2)
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class FixedSizeEncoder(nn.Module):
    """EfficientNetLite for one input size, BatchNorm folded: same outputs, traceable."""

    def __init__(self, encoder: EfficientNetLite, size: int):
        super().__init__()
        encoder = encoder.eval()
        stem, size = _plain(encoder._conv_stem, size)
        self.stem = nn.Sequential(_fuse(stem, encoder._bn0), _relu6())
        blocks = []
        for block in encoder._blocks:
            blocks.append(_Block(block, size))
            size = blocks[-1].out_size
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(fuse_conv_bn_eval(encoder._conv_head, encoder._bn1), _relu6())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(images)))


def fixed_size_encoder(encoder: EfficientNetLite, size: int) -> nn.Module:
    with torch.no_grad():
        return FixedSizeEncoder(encoder, size).eval().to(memory_format=torch.channels_last)
