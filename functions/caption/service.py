"""Caption image bytes with a loaded model: the one piece of work every entry point shares."""

from __future__ import annotations

import time
from dataclasses import dataclass

from caption.errors import bad_option
from caption.images import decode_image
from caption.model.captioner import Caption, Captioner

MAX_BEAM_SIZE = 10
MAX_LENGTH_CAP = 50


@dataclass(frozen=True)
class CaptionOptions:
    beam_size: int = 3
    num_captions: int = 3
    max_length: int = 20

    def validated(self) -> CaptionOptions:
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
    width: int
    height: int
    format: str
    decode_ms: float
    inference_ms: float


class CaptionService:
    def __init__(self, captioner: Captioner, max_pixels: int):
        self.captioner = captioner
        self.max_pixels = max_pixels

    @property
    def model_id(self) -> str:
        """`name@version`: what S3 metadata records, and what idempotency compares."""
        return f"{self.captioner.info.name}@{self.captioner.info.version}"

    def caption_bytes(self, data: bytes, options: CaptionOptions) -> CaptionResult:
        options = options.validated()
        started = time.perf_counter()
        decoded = decode_image(data, self.max_pixels)
        decoded_at = time.perf_counter()
        captions = self.captioner.caption(decoded.image, options.beam_size, options.num_captions,
                                          options.max_length)
        finished = time.perf_counter()
        return CaptionResult(captions, decoded.width, decoded.height, decoded.format,
                             round(1000 * (decoded_at - started), 2),
                             round(1000 * (finished - decoded_at), 2))
