"""The decoder's contract with the searches, and the decoder as served: two ONNX graphs.

Beam search calls the decoder once per word on a handful of rows, so a step is a dozen small
operations whose cost is mostly per-operation overhead and reading the weights, not arithmetic.
One ONNX Runtime run executes a whole step, ranking included, with int8 weights: `start`
(image features -> the first state) and `step` (a word per row, the state, the search's running
sums and constraints -> each bank's best candidates and the next state). The graphs are
exported by caption.train.export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from caption.model.constraints import Constraints

State = TypeVar("State")


class Decoder(Protocol[State]):
    """What the searches need of a decoder (caption.model.search). A state has
    `select(rows)`, which keeps those rows in that order."""

    def start(self, features) -> State:
        """One image's encoder output (1, R, C) -> the first state."""

    def rank(self, tokens: list[int], state: State, sums: list[float], has_word: list[int],
             row_bias: np.ndarray | None, constraints: Constraints, first: bool, k: int
             ) -> tuple[list[list[float]], list[list[int]], State]:
        """One search step: each row's next-word log-probabilities plus its running sum, with
        the constraints (Constraints) and the rows' own masks (row_bias: (B, V) additive, or
        None) added, best `k` per bank, best first, as totals and flat indices
        (row * vocabulary + word); and the state after the rows' words."""


@dataclass(frozen=True)
class DecoderState:
    h: np.ndarray  # (B, hidden)
    c: np.ndarray  # (B, hidden)
    regions: np.ndarray  # (images, R, hidden): projected features, attended over
    keys: np.ndarray  # (images, R, attention): the regions' half of the attention score

    def select(self, rows: list[int]) -> DecoderState:
        """Keep the rows in `rows` (beam search reorders and duplicates hypotheses). One image's
        regions stay one row, broadcast over its beams inside the graph."""
        if self.regions.shape[0] == 1:
            return DecoderState(self.h[rows], self.c[rows], self.regions, self.keys)
        return DecoderState(self.h[rows], self.c[rows], self.regions[rows], self.keys[rows])


# The step graph's inputs after the state, in the order caption.train.networks.ranking takes them.
RANK_INPUTS = ("sums", "word_bias", "row_bias", "has_word", "bank_bias", "k")


class OnnxDecoder:
    def __init__(self, start_session, step_session):
        self.start_session = start_session
        self.step_session = step_session
        # A decoder that attends over nothing (a seed checkpoint's) has no regions or keys
        # inputs: the exporter drops inputs a graph never reads.
        self.step_inputs = frozenset(i.name for i in step_session.get_inputs())
        missing = sorted(set(RANK_INPUTS) - self.step_inputs)
        if missing:
            raise ValueError(f"the step graph lacks the inputs {', '.join(missing)}")
        self._no_row_bias: dict[tuple[int, int], np.ndarray] = {}  # by (rows, vocabulary)
        # log_probs' constraints: every word allowed, nothing ended.
        self._free = Constraints.build(step_session.get_outputs()[0].shape[1], (), end=None)

    def start(self, features: np.ndarray | dict[str, np.ndarray]) -> DecoderState:
        """features: the encoder's regions (1, R, C), or for a decoder that reads a bag
        (caption.model.bag), them as `features` beside the bag's inputs."""
        feeds = features if isinstance(features, dict) else {"features": features}
        return DecoderState(*self.start_session.run(None, feeds))

    def rank(self, tokens: list[int], state: DecoderState, sums: list[float],
             has_word: list[int], row_bias: np.ndarray | None, constraints: Constraints,
             first: bool, k: int) -> tuple[list[list[float]], list[list[int]], DecoderState]:
        words = constraints.first_words if first else constraints.words
        k = min(k, len(tokens) * words.shape[0])
        top_sums, top_index, h, c = self._run(["top_sums", "top_index"], tokens, state, sums,
                                              has_word, row_bias, constraints, words, k)
        return (top_sums.tolist(), top_index.tolist(),
                DecoderState(h, c, state.regions, state.keys))

    def log_probs(self, tokens: list[int], state: DecoderState
                  ) -> tuple[np.ndarray, DecoderState]:
        """The next word's log-probabilities per row, unconstrained: what the searches rank
        (they call rank). For comparing the graph with the network it came from, and for the
        checks of caption.model.sure_words, which read them along a caption."""
        free = self._free
        rows = len(tokens)
        log_probs, h, c = self._run(["log_probs"], tokens, state, [0.0] * rows, [0] * rows,
                                    None, free, free.words, 1)
        return log_probs, DecoderState(h, c, state.regions, state.keys)

    def _run(self, outputs: list[str], tokens, state: DecoderState, sums, has_word, row_bias,
             constraints: Constraints, words: np.ndarray, k: int) -> list[np.ndarray]:
        if row_bias is None:  # the same zeros every step: made once per shape, not per step
            shape = (len(tokens), words.shape[0])
            row_bias = self._no_row_bias.get(shape)
            if row_bias is None:
                row_bias = self._no_row_bias[shape] = np.zeros(shape, dtype=np.float32)
        feeds = {"tokens": np.asarray(tokens, dtype=np.int64), "h": state.h, "c": state.c,
                 "regions": state.regions, "keys": state.keys,
                 "sums": np.asarray(sums, dtype=np.float32), "word_bias": words,
                 "row_bias": row_bias,
                 "has_word": np.asarray(has_word, dtype=np.int64),
                 "bank_bias": constraints.banks, "k": np.array([k], dtype=np.int64)}
        if len(feeds) != len(self.step_inputs):
            feeds = {name: value for name, value in feeds.items() if name in self.step_inputs}
        return self.step_session.run([*outputs, "h_out", "c_out"], feeds)
