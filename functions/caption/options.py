"""A caption request's options and their bounds: plain data, checked the same way wherever a
request or the function's configuration names them. Kept apart from the service so that
checking the configuration at init imports neither numpy nor the model."""

from __future__ import annotations

from dataclasses import dataclass

from caption.errors import bad_option

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
