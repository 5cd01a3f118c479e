"""A colour named only where the decoder is sure of it.

The decoder names a colour in most captions ("a man in a red shirt", "a black and white dog"),
and a wrong colour is a false caption: "a red fire hydrant" for a yellow one, "a black and white
cat" for a tabby. On Flickr8k val 268 of the 626 colours the best captions named are in none of
the photo's five references; where the decoder had given the colour it wrote less than 0.3 of
its probability for any colour at that word, 63 of 86 were.

So after the search (caption.model.sure_words), each run of colours that describes a noun ("red",
"black and white") is judged by its first colour: the decoder's next-word probability for it,
as a share of its probability for every colour word at that point. Below `min_share` the run
is left out ("a fire hydrant is sitting in the water"), and an "a" or "an" before it agrees
with the word that now follows. A run is kept where no noun follows it ("a man in black", "a
red and white parked in a parking lot"), or where it tells two things of one kind apart ("a
black dog and a white dog").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.vocabulary import Vocabulary
from caption.model.words import COLOURS, CONJUNCTION, NOT_AFTER_MODIFIERS, article_for


@dataclass(frozen=True)
class ColourJudgement:
    """One run of colours in a caption: where it is, and whether it stays."""

    start: int  # the run's first token
    end: int  # the token after its last
    word: str  # its first colour
    share: float  # that colour's share of the decoder's colour probability at it
    dropped: bool

    def reason(self) -> str:
        verdict = "left out" if self.dropped else "kept"
        return f"'{self.word}': its share of the colours {self.share:.2f}: {verdict}"


class ColourCheck:
    """Built once per vocabulary; `min_share`: the share of the decoder's colour probability a
    colour needs at its word (DecodingConfig.colour_min_share)."""

    def __init__(self, vocabulary: Vocabulary, min_share: float):
        self.vocabulary = vocabulary
        self.min_share = min_share
        self.colours = np.array(sorted(vocabulary.ids_of(COLOURS)), dtype=np.int64)
        self.colour_set = frozenset(self.colours.tolist())
        self.conjunction = vocabulary.ids.get(CONJUNCTION, -1)
        # After a run, these mean the colour is the noun ("in black", "black and"), not a
        # word describing one.
        self.not_a_noun = vocabulary.ids_of(NOT_AFTER_MODIFIERS) | {self.conjunction,
                                                                     vocabulary.end}
        self.articles = vocabulary.ids_of(("a", "an"))

    def positions(self, tokens: tuple[int, ...]) -> list[tuple[int, int]]:
        """The runs of colours that describe a noun the caption names once, as (start, end)."""
        runs, i = [], 0
        while i < len(tokens):
            if tokens[i] not in self.colour_set:
                i += 1
                continue
            end = i + 1
            while (end + 1 < len(tokens) and tokens[end] == self.conjunction
                   and tokens[end + 1] in self.colour_set) or (
                    end < len(tokens) and tokens[end] in self.colour_set):
                end += 2 if tokens[end] == self.conjunction else 1
            noun = tokens[end] if end < len(tokens) else self.vocabulary.end
            if self._a_noun(noun) and tokens.count(noun) == 1:
                runs.append((i, end))
            i = end
        return runs

    def _a_noun(self, token: int) -> bool:
        """Whether the word after a run can be the noun it describes: not a verb or a
        function word. "-ing" and "-ed" words are taken for verbs ("a red and white parked
        in a parking lot" must not become "a parked"), at the price of keeping the colour of
        a "white building"."""
        return (token not in self.not_a_noun
                and not self.vocabulary.words[token].endswith(("ing", "ed")))

    def judge(self, tokens: tuple[int, ...], probabilities: dict[int, np.ndarray]
              ) -> list[ColourJudgement]:
        """Each run's judgement; probabilities: the decoder's next-word probabilities at each
        run's start (caption.model.sure_words reads them along the caption)."""
        out = []
        for start, end in self.positions(tokens):
            at = probabilities[start]
            share = float(at[tokens[start]] / at[self.colours].sum())
            out.append(ColourJudgement(start, end, self.vocabulary.words[tokens[start]], share,
                                       share < self.min_share))
        return out

    def without(self, tokens: tuple[int, ...], judgements: list[ColourJudgement]
                ) -> tuple[int, ...]:
        """The caption without the runs judged unsure, each article before one agreeing
        with the word after it ("an orange cat" -> "a cat")."""
        out = list(tokens)
        for judgement in sorted((j for j in judgements if j.dropped), key=lambda j: -j.start):
            del out[judgement.start:judgement.end]
            before = judgement.start - 1
            if before >= 0 and out[before] in self.articles and judgement.start < len(out):
                article = article_for(self.vocabulary.words[out[judgement.start]])
                out[before] = self.vocabulary.ids.get(article, out[before])
        return tuple(out)
