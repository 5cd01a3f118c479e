"""ResNet-152 (He et al., 2015) laid out like torchvision's, so its state dicts load by name.

Only two things use it: the seed project's Show-and-Tell checkpoints (see `seed_checkpoint`)
and the seed-equivalent baseline in `bench/`. torchvision itself is not a runtime dependency.
"""

from __future__ import annotations

from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def resnet152_trunk() -> nn.Sequential:
    """ResNet-152 without its classifier: (N, 3, H, W) -> (N, 2048, 1, 1).

    A Sequential, numbered as `list(torchvision_resnet.children())[:-1]` numbers it, which is
    how the seed checkpoint stored it (`resnet.0.weight` is conv1, `resnet.4` is layer1, ...).
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    in_ch = 64
    for width, blocks, stride in ((64, 3, 1), (128, 8, 2), (256, 36, 2), (512, 3, 2)):
        stage = []
        for i in range(blocks):
            stage.append(Bottleneck(in_ch, width, stride if i == 0 else 1))
            in_ch = width * Bottleneck.expansion
        layers.append(nn.Sequential(*stage))
    layers.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers)
