"""A bundle's PyTorch networks as the serving Captioner's parts (caption.model.captioner), so
training steps that caption (validation during training, tuning guidance before export) run the
same searches, guidance and labels as serving, on weights that are not exported yet."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from caption.model.captioner import (
    DEFAULT_GUIDE_THRESHOLD,
    DEFAULT_NOVEL_THRESHOLD,
    Captioner,
)
from caption.model.encoder import Encoded
from caption.model.labels import LabelModel
from caption.train.weights import TorchModel


class TorchEncoder:
    """(N, 3, S, S) pixels -> Encoded, like the exported encoder graph."""

    def __init__(self, encoder: torch.nn.Module,
                 classifier: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.encoder = encoder.eval().to(memory_format=torch.channels_last)
        self.classifier = classifier

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray) -> Encoded:
        maps = self.encoder(torch.from_numpy(pixels).contiguous(
            memory_format=torch.channels_last))
        regions = maps.flatten(2).transpose(1, 2)
        probabilities = None
        if self.classifier is not None:
            logits = F.linear(regions.mean(dim=1), *self.classifier)
            probabilities = torch.softmax(logits, dim=-1).numpy()
        return Encoded(np.ascontiguousarray(regions.numpy()), probabilities)


class TorchDecoder:
    """A PyTorch decoder (AttentionDecoder) as caption.model.decoder.Decoder."""

    def __init__(self, decoder: torch.nn.Module):
        self.decoder = decoder.eval()

    def start(self, features):
        device = next(self.decoder.parameters()).device
        with torch.inference_mode():
            return self.decoder.start(torch.as_tensor(features, device=device))

    def rank(self, *args):
        return self.decoder.rank(*args)


def torch_captioner(model: TorchModel) -> Captioner:
    section = model.config.labels or {}
    labels = LabelModel.from_bundle(section) if model.config.labels is not None else None
    return Captioner(TorchEncoder(model.encoder, model.classifier), TorchDecoder(model.decoder),
                     model.vocabulary, model.preprocess, model.info, labels,
                     section.get("guide_threshold", DEFAULT_GUIDE_THRESHOLD),
                     section.get("guide_threshold_novel", DEFAULT_NOVEL_THRESHOLD),
                     runtime={"encoder": "pytorch float32", "decoder": "pytorch"},
                     # as the guidance threshold and SCST were measured and trained
                     whole_sentences=False)
