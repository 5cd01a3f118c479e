"""What a caption says only where the decoder was sure of it: after the search, each caption is
read once more through the decoder (the words it wrote as input, as in training), and its
next-word probabilities at the words that matter decide what stays. A gender or an age the
decoder was not sure of becomes a neutral word (caption.model.sure_person); a colour it was
not sure of is left out (caption.model.sure_colour). The rest of the caption is the decoder's,
unchanged, and so is its score (the mean log-probability per word of what the decoder wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caption.model.search import Hypothesis
from caption.model.sure_colour import ColourCheck, ColourJudgement
from caption.model.sure_person import Judgement, PersonCheck


@dataclass(frozen=True)
class Checked:
    """What the checks found in one caption the search wrote."""

    person: Judgement | None = None  # None where it names no gender or age
    colours: list[ColourJudgement] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return ([self.person.reason()] if self.person else []) + [
            judgement.reason() for judgement in self.colours]


@dataclass(frozen=True)
class SureWords:
    start_token: int  # the vocabulary's <start>, which the decoder reads first
    person: PersonCheck | None = None
    colour: ColourCheck | None = None

    def said(self, decoder, start, found: list[Hypothesis], limit: int
             ) -> tuple[list[Hypothesis], list[Checked]]:
        """Up to `limit` distinct captions from the search's, best first, each as the checks
        say it; and what they found in each caption of `found` they read. start: the
        decoder's state for the photo (decoder.start), as the search began from it. A decoder that
        cannot give its next-word probabilities (a test's scripted one) keeps its captions."""
        if not found or not hasattr(decoder, "log_probs"):
            return found[:limit], []
        reader = CaptionReader(decoder, start, self.start_token)
        said: dict[tuple[int, ...], Hypothesis] = {}
        checked: list[Checked] = []
        for hypothesis in found:
            if len(said) == limit:
                break
            tokens = hypothesis.tokens
            probabilities = {i: reader.next_word(tokens[:i]) for i in self._positions(tokens)}
            found_here = Checked(
                self.person.judge(tokens, probabilities) if self.person else None,
                self.colour.judge(tokens, probabilities) if self.colour else [])
            checked.append(found_here)
            if self.colour is not None:
                tokens = self.colour.without(tokens, found_here.colours)
            if found_here.person is not None:
                tokens = self.person.neutral(tokens, found_here.person)
            # Its score stays the decoder's for the words it wrote: the same mean per word.
            said.setdefault(tokens, Hypothesis(
                tokens, hypothesis.mean_log_prob * max(len(tokens), 1)))
        return list(said.values()), checked

    def _positions(self, tokens: tuple[int, ...]) -> set[int]:
        positions = set()
        if self.person is not None and (first := self.person.position(tokens)) is not None:
            positions.add(first)
        if self.colour is not None:
            positions.update(start for start, _ in self.colour.positions(tokens))
        return positions


class CaptionReader:
    """The decoder's next-word probabilities along one photo's captions, given each caption's
    own words: one decoder step per word, and each prefix read once, because a search's
    captions share their first words ("a man in a red shirt is ...")."""

    def __init__(self, decoder, start, start_token: int):
        self.decoder, self.start, self.start_token = decoder, start, start_token
        # Per prefix: the probabilities (float64) of the word after it, and the decoder's
        # state once it has read <start> and the prefix.
        self._read: dict[tuple[int, ...], tuple[np.ndarray, object]] = {}

    def next_word(self, prefix: tuple[int, ...]) -> np.ndarray:
        return self._after(prefix)[0]

    def _after(self, prefix: tuple[int, ...]) -> tuple[np.ndarray, object]:
        if prefix not in self._read:
            if prefix:
                state, word = self._after(prefix[:-1])[1], prefix[-1]
            else:
                state, word = self.start, self.start_token
            log_probs, after = self.decoder.log_probs([word], state)
            self._read[prefix] = (np.exp(log_probs[0].astype(np.float64)), after)
        return self._read[prefix]
