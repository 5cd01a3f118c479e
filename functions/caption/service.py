"""Caption image bytes with a loaded model: the one piece of work every entry point shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from caption.errors import CaptionError, bad_option
from caption.images import DecodedImage, decode_image
from caption.model.captioner import Caption, Captioner
from caption.model.labels import Label
from caption.model.objects import DetectedObject

MAX_BEAM_SIZE = 10
MAX_LENGTH_CAP = 50


@dataclass(frozen=True)
class CaptionOptions:
    beam_size: int = 3
    num_captions: int = 3
    max_length: int = 20
    guidance: bool = True  # steer captions to name what the classifier is confident of
    object_threshold: float | None = None  # score an object needs to be listed; None: the model's

    def validated(self) -> CaptionOptions:
        threshold = self.object_threshold
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, int | float)
                                      or not 0.0 <= threshold <= 1.0):
            raise bad_option("object_threshold must be a number between 0 and 1")  # NaN fails too
        if not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise bad_option(f"beam_size must be between 1 and {MAX_BEAM_SIZE}")
        if not 1 <= self.num_captions <= self.beam_size:
            raise bad_option("num_captions must be between 1 and beam_size")
        if not 1 <= self.max_length <= MAX_LENGTH_CAP:
            raise bad_option(f"max_length must be between 1 and {MAX_LENGTH_CAP}")
        return self


@dataclass(frozen=True)
class CaptionResult:
    captions: list[Caption]
    labels: list[Label]
    guided_by: str | None
    width: int
    height: int
    format: str
    decode_ms: float
    inference_ms: float
    objects: list[DetectedObject]  # best first, boxes in the upright image's pixels


class CaptionService:
    def __init__(self, captioner: Captioner, max_pixels: int):
        self.captioner = captioner
        self.max_pixels = max_pixels
        # Told of every captioned image (the Lambda records metrics with it).
        self.observer: Callable[[CaptionResult], None] | None = None

    @property
    def model_id(self) -> str:
        """The loaded model's `name@version` (ModelInfo.id), the idempotency key."""
        return self.captioner.info.id

    def caption_bytes(self, data: bytes, options: CaptionOptions) -> CaptionResult:
        result = self.caption_many([data], options)[0]
        if isinstance(result, CaptionError):
            raise result
        return result

    def caption_many(self, images: list[bytes], options: CaptionOptions
                     ) -> list[CaptionResult | CaptionError]:
        """Several images: each decoded on its own (a bad one fails alone, as its CaptionError),
        the good ones encoded as one batch. Timings are per image."""
        options = options.validated()
        decoded: list[DecodedImage | CaptionError] = []
        decode_ms: list[float] = []
        for data in images:
            started = time.perf_counter()
            try:
                decoded.append(decode_image(data, self.max_pixels,
                                            self.captioner.decode_size))
            except CaptionError as exc:
                decoded.append(exc.with_traceback(None))  # no frame cycle (see cli._caption_batch)
            decode_ms.append(round(1000 * (time.perf_counter() - started), 2))
        good = [d for d in decoded if isinstance(d, DecodedImage)]
        started = time.perf_counter()
        described = iter(self.captioner.describe(
            [d.image for d in good], options.beam_size, options.num_captions,
            options.max_length, options.guidance, sizes=[(d.width, d.height) for d in good],
            object_threshold=options.object_threshold))
        inference_ms = round(1000 * (time.perf_counter() - started) / max(len(good), 1), 2)
        results: list[CaptionResult | CaptionError] = []
        for item, ms in zip(decoded, decode_ms, strict=True):
            if isinstance(item, CaptionError):
                results.append(item)
                continue
            description = next(described)
            result = CaptionResult(description.captions, description.labels,
                                   description.guided_by, item.width, item.height, item.format,
                                   ms, inference_ms, description.objects)
            if self.observer is not None:
                self.observer(result)
            results.append(result)
        return results
