"""Caption image bytes with a loaded model: the one piece of work every entry point shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from caption.errors import CaptionError
from caption.images import DecodedImage, decode_image
from caption.model.captioner import Caption, Captioner
from caption.model.labels import Label
from caption.model.objects import DetectedObject
from caption.options import (  # noqa: F401  (re-exported: the service's request vocabulary)
    MAX_BEAM_SIZE,
    MAX_LENGTH_CAP,
    CaptionOptions,
)


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
