"""A bundle's PyTorch networks in serving's shapes: the encoder as caption.model.encoder's
callable, the decoder as caption.model.decoder's Decoder, so validation during training runs the
serving search on weights that are not exported yet, and the tests compare the exported graphs
with the networks they came from."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from caption.model.encoder import Encoded
from caption.train.networks.concept_decoder import BagBatch


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
            if isinstance(features, BagBatch):  # a decoder that reads bags (concept_decoder)
                return self.decoder.start(features.to(device))
            return self.decoder.start(torch.as_tensor(features, device=device))

    def rank(self, *args):
        return self.decoder.rank(*args)
