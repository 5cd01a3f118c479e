"""A complete captioner: one read of the photo, the decoder, vocabulary, labels and beam search,
assembled from parts (caption.model.loader for serving). Pillow images in, descriptions out.

One read: the detector graph (caption.model.objects) gives the photo's objects and the regions
of its backbone; the labels head reads those regions, and the decoder attends over them and the
photo's bag of found concepts (caption.model.decoding). A converted seed bundle, which has no
detector, reads the photo with its own encoder instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from caption.model.bundle import ModelInfo
from caption.model.classes import classes_named
from caption.model.decoder import Decoder
from caption.model.decoding import MAX_LABELS, Decoding, DecodingConfig
from caption.model.labels import Label, LabelHead, LabelModel
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
    objects: list[DetectedObject] = field(default_factory=list)  # best first
    concepts: list[str] = field(default_factory=list)  # the bag the decoder read
    # The found object the best caption is about: the most confident class of the bag that
    # it names (caption.metrics.subjects' words); None where it names none.
    guided_by: str | None = None


@dataclass(frozen=True)
class Reading:
    """What one read of a batch of photos gives."""

    regions: np.ndarray  # (N, R, C)
    detections: list[Detections | None]


class Captioner:
    def __init__(self, decoder: Decoder, vocabulary: Vocabulary, info: ModelInfo,
                 detector: Detector | None = None, encoder=None,
                 preprocess: Preprocessing | None = None, labels: LabelModel | None = None,
                 label_head: LabelHead | None = None, config: DecodingConfig | None = None,
                 runtime: dict[str, str] | None = None,
                 opened_ms: dict[str, float] | None = None, objects: bool = True):
        """detector: the detector graph with its regions (caption.model.objects), which reads
        the photo; encoder and preprocess: a seed bundle's, which reads it where there is no
        detector. labels and label_head: the labels section and the graph that scores them.
        config: every setting of the decoding (caption.model.decoding.DecodingConfig).
        runtime: what runs each part, as /healthz and the init log report it; opened_ms: how
        long opening each graph took (the loader's), which the init log reports. objects:
        list the detector's objects and give the decoder its bag (CAPTION_OBJECTS)."""
        if detector is None and encoder is None:
            raise ValueError("a captioner reads photos with a detector or an encoder")
        self.decoder = decoder
        self.vocabulary = vocabulary
        self.info = info
        self.detector = detector
        self.encoder = encoder
        self.preprocess = preprocess or Preprocessing()
        self.labels = labels if label_head is not None else None
        self.label_head = label_head
        self.objects = objects and detector is not None
        self.runtime = runtime or {}
        self.opened_ms = opened_ms or {}
        self.decoding = Decoding(config or DecodingConfig(), decoder, vocabulary, self.labels,
                                 reads_bag=detector is not None)

    @property
    def decode_size(self) -> int:
        """The smallest side an image may be decoded down to: what the photo is read at."""
        return self.detector.input_size if self.detector is not None else self.preprocess.size

    def read(self, images: list[Image.Image]) -> Reading:
        """One read of the photos: regions, and the detector's findings where it runs."""
        if self.detector is not None:
            regions, detections = self.detector.read(images)
            return Reading(regions, detections if self.objects else [None] * len(images))
        pixels = np.stack([self.preprocess(image) for image in images])
        return Reading(self.encoder(pixels).regions, [None] * len(images))

    def describe(self, images: list[Image.Image], beam_size: int = 3, num_captions: int = 3,
                 max_length: int = 20, guidance: bool = True, max_labels: int = MAX_LABELS,
                 sizes: list[tuple[int, int]] | None = None,
                 object_threshold: float | None = None) -> list[Description]:
        """Several images: one read of the batch, then per image one search.
        sizes: each image's upright original (width, height), which object boxes are given in
        (default: the image's own size); object_threshold: the score an object needs to be
        listed (default: the bundle's). guidance off: the decoder reads the regions alone."""
        if not images:
            return []
        reading = self.read(images)
        probabilities = (self.label_head(reading.regions)
                         if self.label_head is not None and max_labels > 0 else None)
        sizes = sizes or [image.size for image in images]
        out = []
        for i, detections in enumerate(reading.detections):
            evidence = self.decoding.evidence(
                detections, None if probabilities is None else probabilities[i], guidance,
                max_labels)
            plan = self.decoding.plan(evidence, reading.regions[i:i + 1], guidance, max_length)
            captions = [Caption(plan.render(h.tokens), round(h.score, 4))
                        for h in plan.search(beam_size, num_captions, max_length)]
            concepts = [slot.concept for slot in evidence.bag]
            named = classes_named(captions[0].text) if captions else set()
            description = Description(captions, evidence.labels, concepts=concepts,
                                      guided_by=next((c for c in concepts if c in named), None))
            if detections is not None:
                threshold = (self.detector.score_threshold if object_threshold is None
                             else object_threshold)
                description = replace(description,
                                      objects=detections.objects(*sizes[i], threshold))
            out.append(description)
        return out

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20, guidance: bool = True) -> list[Caption]:
        return self.describe([image], beam_size, num_captions, max_length, guidance,
                             max_labels=0)[0].captions
