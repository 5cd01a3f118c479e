"""A complete captioner: preprocessing, encoder, decoder, vocabulary and beam search."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from caption.model.beam_search import beam_search
from caption.model.guidance import (
    animal_word_ids,
    animate_verb_ids,
    choose_guide,
    guided_beam_search,
    unseen_animals,
)
from caption.model.labels import Label, LabelModel
from caption.model.preprocess import Preprocessing
from caption.model.vocabulary import Vocabulary

MAX_LABELS = 5
LABEL_THRESHOLD = 0.05  # labels below this are noise more often than not
DEFAULT_GUIDE_THRESHOLD = 0.5  # a bundle's labels.guide_threshold, measured on val, overrides it
DEFAULT_NOVEL_THRESHOLD = 0.2  # likewise labels.guide_threshold_novel (see choose_guide)
# With guidance, animals the classifier puts below this are not written. Measured (guide
# threshold 0.25): 0.03 raised coco-dev CIDEr-D 42.0 -> 43.3 and "names the subject" 70.0 -> 71.4 %
# for -0.01 BLEU-4 and -0.2 CIDEr-D on Flickr8k val; 0.01 changed nothing.
ABSENT_ANIMAL = 0.03


@dataclass(frozen=True)
class Caption:
    text: str
    score: float


@dataclass(frozen=True)
class Description:
    """Everything the model says about one image."""

    captions: list[Caption]  # best first
    labels: list[Label] = field(default_factory=list)  # most probable first
    guided_by: str | None = None  # the noun the captions were steered to name, if any


@dataclass
class ModelInfo:
    """What the bundle says about itself; shown by the API and written into S3 metadata."""

    name: str
    version: str
    architecture: str
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        """`name@version`: what S3 metadata records, and what idempotency compares."""
        return f"{self.name}@{self.version}"


class Captioner:
    def __init__(self, encoder: nn.Module, decoder: nn.Module, vocabulary: Vocabulary,
                 preprocess: Preprocessing, info: ModelInfo, labels: LabelModel | None = None,
                 guide_threshold: float = DEFAULT_GUIDE_THRESHOLD,
                 novel_threshold: float = DEFAULT_NOVEL_THRESHOLD):
        # Channels-last is the faster layout for the depthwise convolutions on CPU.
        self.encoder = encoder.eval().to(memory_format=torch.channels_last)
        self.decoder = decoder.eval()
        self.vocabulary = vocabulary
        self.preprocess = preprocess
        self.info = info
        self.labels = labels  # None for models without a classifier (the seed's checkpoint)
        self.guide_threshold = guide_threshold
        self.novel_threshold = novel_threshold
        self.absent_animal = ABSENT_ANIMAL
        self._animate_verbs = animate_verb_ids(vocabulary)
        self._animal_words = animal_word_ids(labels, vocabulary) if labels is not None else {}
        self._serving_encoder = None  # the ONNX or fixed-size (maybe frozen) one: optimize()
        self._serving_decoder = None  # the ONNX one: optimize()
        self.onnx_encoder_file: Path | None = None  # the bundle's ONNX export, if it has one
        self.onnx_encoder_int8_file: Path | None = None  # its int8 form, if the bundle has one
        # The bundle's ONNX decoder, if it has one: its directory and runtime.onnx_decoder.
        self.onnx_decoder_files: tuple[Path, dict] | None = None

    def optimize(self, freeze: bool = False, int8_encoder: bool = True) -> None:
        """Serve the decoder from the bundle's ONNX graphs under ONNX Runtime where both are
        there (caption.model.onnx_decoder), and the encoder in its fastest available form: the
        bundle's int8 ONNX encoder where int8_encoder allows it and the CPU has VNNI
        (caption.model.encoder_int8, caption.model.cpu), else its float32 ONNX export
        (caption.model.onnx_encoder); else the fixed-size form
        (caption.model.fixed_size_encoder): padding constant and BatchNorm folded, faster per
        image for about 25 ms at start-up. freeze: also trace and freeze that with TorchScript,
        faster again per image but about a second more at start-up (worth it for long runs,
        not for a cold start). Only EfficientNet-Lite encoders have these forms."""
        from caption.model.cpu import has_vnni
        from caption.model.efficientnet_lite import EfficientNetLite
        from caption.model.fixed_size_encoder import fixed_size_encoder, frozen_encoder
        from caption.model.onnx_decoder import load_onnx_decoder
        from caption.model.onnx_encoder import load_onnx_encoder

        if self.onnx_decoder_files is not None:
            # One thread: a step's operations are too small to share (two threads measured
            # slower, `python -m bench.decoder`); the encoder's convolutions do share.
            self._serving_decoder = load_onnx_decoder(*self.onnx_decoder_files, threads=1)
        if (int8_encoder and self.onnx_encoder_int8_file is not None and has_vnni()
                and self.onnx_encoder_file is not None):
            exported = load_onnx_encoder(self.onnx_encoder_int8_file, torch.get_num_threads(),
                                         "int8 encoder", "the float32 encoder")
            if exported is not None:
                self._serving_encoder = exported
                return
        if self.onnx_encoder_file is not None:
            exported = load_onnx_encoder(self.onnx_encoder_file, torch.get_num_threads())
            if exported is not None:
                self._serving_encoder = exported
                return
        if isinstance(self.encoder, EfficientNetLite):
            build = frozen_encoder if freeze else fixed_size_encoder
            self._serving_encoder = build(self.encoder, self.preprocess.size)

    @property
    def encoder_runtime(self) -> str:
        """Which encoder serves: `onnxruntime`, or `pytorch` (its fixed-size or eager form)."""
        from caption.model.onnx_encoder import OnnxEncoder

        return "onnxruntime" if isinstance(self._serving_encoder, OnnxEncoder) else "pytorch"

    @property
    def encoder_precision(self) -> str:
        """`int8` where the int8 ONNX encoder serves, else `float32`."""
        from caption.model.onnx_encoder import OnnxEncoder

        serving = self._serving_encoder
        int8 = (isinstance(serving, OnnxEncoder) and self.onnx_encoder_int8_file is not None
                and serving.path == self.onnx_encoder_int8_file)
        return "int8" if int8 else "float32"

    @property
    def decoder_runtime(self) -> str:
        """Which decoder serves: `onnxruntime` or `pytorch`."""
        return "pytorch" if self._serving_decoder is None else "onnxruntime"

    @torch.inference_mode()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) preprocessed images -> what the decoder's start() takes: (N, regions,
        channels) for encoders that return feature maps, (N, dim) for vector encoders."""
        encoder = self._serving_encoder if self._serving_encoder is not None else self.encoder
        if isinstance(encoder, nn.Module):  # ONNX Runtime takes the plain layout as it is
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        features = encoder(pixels)
        return features.flatten(2).transpose(1, 2) if features.dim() == 4 else features

    @torch.inference_mode()
    def describe_features(self, features: torch.Tensor, beam_size: int = 3,
                          num_captions: int = 3, max_length: int = 20, guidance: bool = True,
                          max_labels: int = MAX_LABELS) -> Description:
        """features: one image's encoder output, (1, regions, channels)."""
        decoder = self._serving_decoder if self._serving_decoder is not None else self.decoder
        labels: list[Label] = []
        guide = None
        banned: frozenset[int] = frozenset()
        if self.labels is not None and features.dim() == 3 and (guidance or max_labels):
            probabilities = self.labels.probabilities(features)[0]
            labels = self.labels.top(probabilities, max_labels, LABEL_THRESHOLD)
            if guidance:
                scores = self.labels.noun_scores(probabilities)  # once, for both uses
                guide = choose_guide(self.labels, scores, self.vocabulary,
                                     self.guide_threshold, self.novel_threshold)
                banned = unseen_animals(self._animal_words, scores, self.absent_animal)
        if guide is None:
            hypotheses = beam_search(decoder, features, self.vocabulary, beam_size,
                                     num_captions, max_length, banned)
            captions = [Caption(self.vocabulary.decode(h.tokens), round(h.score, 4))
                        for h in hypotheses]
            return Description(captions, labels, None)
        # Searched even when the best caption already names the noun: the constrained search
        # keeps twice the beams, and on Flickr8k val that scored higher than keeping the
        # unconstrained captions (BLEU-4 22.08 against 21.89 at threshold 0.5).
        inanimate = guide.noun not in self.labels.animal_nouns
        hypotheses = guided_beam_search(
            decoder, features, self.vocabulary, guide.tokens, beam_size, num_captions,
            max_length, banned, self._animate_verbs if inanimate else frozenset())
        captions = [Caption(guide.render(h.tokens, self.vocabulary), round(h.score, 4))
                    for h in hypotheses]
        return Description(captions, labels, guide.noun)

    def describe(self, images: list[Image.Image], beam_size: int = 3, num_captions: int = 3,
                 max_length: int = 20, guidance: bool = True, max_labels: int = MAX_LABELS
                 ) -> list[Description]:
        """Several images: one encoder batch, then one search per image."""
        if not images:
            return []
        features = self.encode(torch.stack([self.preprocess(image) for image in images]))
        return [self.describe_features(features[i:i + 1], beam_size, num_captions, max_length,
                                       guidance, max_labels) for i in range(len(images))]

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20, guidance: bool = False) -> list[Caption]:
        return self.describe([image], beam_size, num_captions, max_length, guidance,
                             max_labels=0)[0].captions
