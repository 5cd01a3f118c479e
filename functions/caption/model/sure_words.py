"""What a caption says only where the decoder was sure of it: after the search, each caption is
read once more through the decoder (the words it wrote as input, as in training), and its
next-word probabilities at the words that matter decide what stays. A gender the decoder was
not sure of becomes a neutral word (caption.model.sure_gender); a colour it was not sure of is
left out (caption.model.sure_colour). The rest of the caption is the decoder's, unchanged, and
so is its score (the mean log-probability per word of what the decoder wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caption.model.search import Hypothesis
from caption.model.sure_colour import ColourCheck, ColourJudgement
from caption.model.sure_gender import GenderCheck, Judgement


@dataclass(frozen=True)
class Checked:
    """What the checks found in one caption the search wrote."""

    gender: Judgement | None = None  # None where it names no gender
    colours: list[ColourJudgement] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return ([self.gender.reason()] if self.gender else []) + [
            judgement.reason() for judgement in self.colours]


@dataclass(frozen=True)
class SureWords:
    start_token: int  # the vocabulary's <start>, which the decoder reads first
    gender: GenderCheck | None = None
    colour: ColourCheck | None = None

    def said(self, decoder, features, found: list[Hypothesis], limit: int
             ) -> tuple[list[Hypothesis], list[Checked]]:
        """Up to `limit` distinct captions from the search's, best first, each as the checks
        say it; and what they found in each caption of `found` they read. A decoder that
        cannot give its next-word probabilities (a test's scripted one) keeps its captions."""
        if not found or not hasattr(decoder, "log_probs"):
            return found[:limit], []
        start_state = decoder.start(features)
        said: dict[tuple[int, ...], Hypothesis] = {}
        checked: list[Checked] = []
        for hypothesis in found:
            if len(said) == limit:
                break
            tokens = hypothesis.tokens
            positions = self._positions(tokens)
            probabilities = probabilities_at(decoder, start_state, self.start_token, tokens,
                                             positions)
            found_here = Checked(
                self.gender.judge(tokens, probabilities) if self.gender else None,
                self.colour.judge(tokens, probabilities) if self.colour else [])
            checked.append(found_here)
            if self.colour is not None:
                tokens = self.colour.without(tokens, found_here.colours)
            if found_here.gender is not None and found_here.gender.neutral:
                tokens = self.gender.neutral(tokens)
            # Its score stays the decoder's for the words it wrote: the same mean per word.
            said.setdefault(tokens, Hypothesis(
                tokens, hypothesis.mean_log_prob * max(len(tokens), 1)))
        return list(said.values()), checked

    def _positions(self, tokens: tuple[int, ...]) -> set[int]:
        positions = set()
        if self.gender is not None and (first := self.gender.position(tokens)) is not None:
            positions.add(first)
        if self.colour is not None:
            positions.update(start for start, _ in self.colour.positions(tokens))
        return positions


def probabilities_at(decoder, start_state, start_token: int, tokens: tuple[int, ...],
                     positions: set[int]) -> dict[int, np.ndarray]:
    """The decoder's next-word probabilities (float64) before each of `positions` of a
    caption, given the caption's own words before it: one step per word up to the last
    position, from the photo's start state."""
    out: dict[int, np.ndarray] = {}
    if not positions:
        return out
    state, previous = start_state, start_token
    for index in range(max(positions) + 1):
        log_probs, state = decoder.log_probs([previous], state)
        if index in positions:
            out[index] = np.exp(log_probs[0].astype(np.float64))
        previous = tokens[index]
    return out
