"""A complete captioner: preprocessing, encoder, decoder, vocabulary and beam search."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn

from caption.model.beam_search import beam_search
from caption.model.preprocess import Preprocessing
from caption.model.vocabulary import Vocabulary


@dataclass(frozen=True)
class Caption:
    text: str
    score: float


@dataclass
class ModelInfo:
    """What the bundle says about itself; shown by the API and written into S3 metadata."""

    name: str
    version: str
    architecture: str
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


class Captioner:
    def __init__(self, encoder: nn.Module, decoder: nn.Module, vocabulary: Vocabulary,
                 preprocess: Preprocessing, info: ModelInfo):
        # Channels-last is the faster layout for the depthwise convolutions on CPU.
        self.encoder = encoder.eval().to(memory_format=torch.channels_last)
        self.decoder = decoder.eval()
        self.vocabulary = vocabulary
        self.preprocess = preprocess
        self.info = info

    @torch.inference_mode()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) preprocessed images -> what the decoder's start() takes: (N, regions,
        channels) for encoders that return feature maps, (N, dim) for vector encoders."""
        features = self.encoder(pixels.contiguous(memory_format=torch.channels_last))
        return features.flatten(2).transpose(1, 2) if features.dim() == 4 else features

    def caption_features(self, features: torch.Tensor, beam_size: int = 3, num_captions: int = 3,
                         max_length: int = 20) -> list[Caption]:
        hypotheses = beam_search(self.decoder, features, self.vocabulary, beam_size,
                                 num_captions, max_length)
        return [Caption(self.vocabulary.decode(h.tokens), round(h.score, 4)) for h in hypotheses]

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20) -> list[Caption]:
        features = self.encode(self.preprocess(image)[None])
        return self.caption_features(features, beam_size, num_captions, max_length)
