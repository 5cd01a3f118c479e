"""What a search adds to the decoder's log-probabilities, as additive masks: 0 leaves a value
exactly as it was and -inf rules a word out, so ranking with them is ranking with those words
removed. The masks here are the same at every step; a search adds per-row ones of its own
(caption.model.search). The decoder's step graph adds both before its top-k
(caption.train.networks.ranking), so a step stays one ONNX Runtime run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def bias(words: Iterable[int], size: int) -> np.ndarray:
    """(size,) float32: -inf at `words`, 0 elsewhere."""
    out = np.zeros(size, dtype=np.float32)
    out[sorted(set(words))] = -np.inf
    return out


@dataclass(frozen=True)
class Constraints:
    """banks: (banks, 2, V): what a row's totals get in each bank, by whether the row's caption
    already has the required word (index 1) or not (index 0). A plain beam search has one bank
    of zeros; the guided search has two (captions without the word, captions with it)."""

    words: np.ndarray  # (V,) words never written
    first_words: np.ndarray  # (V,) the same at the first step, which may not end the caption
    banks: np.ndarray  # (banks, 2, V)

    @classmethod
    def build(cls, size: int, banned: Iterable[int], end: int | None,
              banks: np.ndarray | None = None) -> Constraints:
        banned = set(banned)
        first = banned | ({end} if end is not None else set())
        return cls(bias(banned, size), bias(first, size),
                   np.zeros((1, 2, size), dtype=np.float32) if banks is None
                   else banks.astype(np.float32))
