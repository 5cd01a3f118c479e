"""Turn a decoded RGB picture into the tensor the encoder expects.

The settings come from the bundle (see `Preprocessing`), so a model trained with other ones is
fed the way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image


@dataclass(frozen=True)
class Preprocessing:
    size: int = 224
    # EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128.
    mean: tuple[float, float, float] = field(default=(127 / 255,) * 3)
    std: tuple[float, float, float] = field(default=(128 / 255,) * 3)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """(3, size, size) float tensor; the aspect ratio is not kept, as in the training data."""
        image = image.convert("RGB")
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        pixels = pixels.permute(2, 0, 1)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (pixels - mean) / std
