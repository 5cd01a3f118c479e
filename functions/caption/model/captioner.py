"""A complete captioner: preprocessing, encoder, decoder, vocabulary, labels and beam search,
assembled from parts (caption.model.loader for serving, caption.train.networks.torch_parts for the
PyTorch networks in training). NumPy in, captions out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from caption.model.bundle import ModelInfo
from caption.model.decoder import Decoder
from caption.model.decoding import MAX_LABELS, Decoding, DecodingConfig
from caption.model.encoder import Encoded
from caption.model.grounding import Grounding
from caption.model.labels import Label, LabelModel
from caption.model.objects import DetectedObject, Detections, Detector
from caption.model.preprocess import Preprocessing
from caption.model.vocabulary import Vocabulary


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
    objects: list[DetectedObject] = field(default_factory=list)  # best first


class Captioner:
    def __init__(self, encoder, decoder: Decoder, vocabulary: Vocabulary,
                 preprocess: Preprocessing, info: ModelInfo, labels: LabelModel | None = None,
                 runtime: dict[str, str] | None = None, grounding: Grounding | None = None,
                 detector: Detector | None = None,
                 config: DecodingConfig | None = None,
                 opened_ms: dict[str, float] | None = None, bag: dict | None = None):
        """encoder: (N, 3, S, S) float32 pixels -> Encoded (caption.model.encoder).
        runtime: what runs each part, as /healthz and the init log report it.
        grounding: the word detectors that find what a photo shows (caption.model.grounding);
        detector: the COCO detector (caption.model.objects): every description lists its
        objects.
        config: every setting of the decoding (caption.model.decoding.DecodingConfig): what
        the caption may say given what these find. opened_ms: how long opening each graph
        took (the loader's), which the init log reports. bag: model.json's bag section, where
        the decoder's start takes the detector's bag beside the regions (caption.model.bag)."""
        self.encoder = encoder
        self.decoder = decoder
        self.vocabulary = vocabulary
        self.preprocess = preprocess
        self.info = info
        self.labels = labels  # None for models without a classifier (a seed checkpoint's)
        self.runtime = runtime or {}
        self.opened_ms = opened_ms or {}
        self.grounding = grounding
        self.detector = detector
        # The detector runs beside the encoder, each on its share of the threads (the loader
        # splits them): per image 40 against 43 ms one after the other, each on both of 2
        # cores (measured alternately, in one process).
        self._beside = (ThreadPoolExecutor(1, thread_name_prefix="detector")
                        if detector is not None else None)
        self.decoding = Decoding(config or DecodingConfig(), decoder, vocabulary, labels,
                                 grounding, detector is not None, bag)

    def encode(self, pixels: np.ndarray) -> Encoded:
        """(N, 3, S, S) preprocessed images -> the regions the decoder's start takes and the
        classifier's probabilities."""
        return self.encoder(np.ascontiguousarray(pixels, dtype=np.float32))

    @property
    def decode_size(self) -> int:
        """The smallest side an image may be decoded down to: the larger of the two inputs."""
        return max(self.preprocess.size, self.detector.input_size if self.detector else 0)

    def describe_features(self, regions: np.ndarray, probabilities: np.ndarray | None = None,
                          beam_size: int = 3, num_captions: int = 3, max_length: int = 20,
                          guidance: bool = True, max_labels: int = MAX_LABELS,
                          detections: Detections | None = None) -> Description:
        """regions: one image's encoder output, (1, R, C); probabilities: its (classes,);
        detections: the detector's on the same image (objects are not listed here: see
        describe, which knows the image's size)."""
        evidence = self.decoding.evidence(regions, probabilities, detections, guidance,
                                          max_labels)
        plan = self.decoding.plan(evidence, regions, guidance, max_length)
        searched = plan.captions(beam_size, num_captions, max_length)
        captions = [Caption(plan.render(h.tokens), round(h.score, 4)) for h in searched.said]
        return Description(captions, evidence.labels,
                           plan.guided_by if searched.guided else None)

    def describe(self, images: list[Image.Image], beam_size: int = 3, num_captions: int = 3,
                 max_length: int = 20, guidance: bool = True, max_labels: int = MAX_LABELS,
                 sizes: list[tuple[int, int]] | None = None,
                 object_threshold: float | None = None) -> list[Description]:
        """Several images: one encoder batch, then per image the detector and one search.
        sizes: each image's upright original (width, height), which object boxes are given in
        (default: the image's own size); object_threshold: the score an object needs to be
        listed (default: the bundle's)."""
        if not images:
            return []
        found = (self._beside.submit(lambda: [self.detector.detect(image) for image in images])
                 if self._beside is not None else None)
        encoded = self.encode(np.stack([self.preprocess(image) for image in images]))
        probabilities = encoded.probabilities
        detected = found.result() if found is not None else [None] * len(images)
        sizes = sizes or [image.size for image in images]
        out = []
        for i, detections in enumerate(detected):
            description = self.describe_features(
                encoded.regions[i:i + 1], None if probabilities is None else probabilities[i],
                beam_size, num_captions, max_length, guidance, max_labels, detections)
            if detections is not None:
                threshold = (self.detector.score_threshold if object_threshold is None
                             else object_threshold)
                description = replace(description,
                                      objects=detections.objects(*sizes[i], threshold))
            out.append(description)
        return out

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20, guidance: bool = False) -> list[Caption]:
        return self.describe([image], beam_size, num_captions, max_length, guidance,
                             max_labels=0)[0].captions
