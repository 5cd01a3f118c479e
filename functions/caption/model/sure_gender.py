"""A gender named only where the decoder is sure of it.

Flickr8k's people are nearly all named "a man", "a girl", so the decoder names a gender for most
people, and often the wrong one: on Flickr8k val, bundle 2026.12.07.4 called 65 women men and 9
men women, of the 465 photos whose references agree on a gender, and hedged with "a man and a
woman" for one person or a pair of one gender 19 times. Someone reading alt text accepts "a
person" for a man; not "a man" for a woman.

So after the search each caption is checked (caption.model.sure_words):
- at the first word that names a gender, the decoder's own next-word probabilities given the
  words before it are summed over each gender's words; where the other gender holds more than
  `1 / (1 + odds)` of that sum, the decoder was not `odds` times as sure of the gender it wrote;
- a caption that names both genders ("a man and a woman") hedges, and on Flickr8k val such a
  hedge was wrong on more photos than it was right, where the references agree.
Either way the caption says the same with neutral words (caption.model.words.GENDER_NEUTRAL):
"two people are standing on a street", "a person is sitting on a bench in a park". Nothing
else in it changes, so it keeps its count, colours and verbs, and its score stays the
decoder's for the words it chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.vocabulary import Vocabulary
from caption.model.words import (
    ANOTHER,
    FEMALE_WORDS,
    GENDER_NEUTRAL,
    HEDGE_NEUTRAL,
    MALE_WORDS,
    PERSON_ARTICLES,
)


@dataclass(frozen=True)
class Judgement:
    """What the check found in one caption."""

    word: str  # the first word that names a gender
    other_share: float | None  # the other gender's share of the decoder's gendered probability
    neutral: bool  # the caption is said with neutral words

    def reason(self) -> str:
        if self.other_share is None:
            return f"'{self.word}': both genders named, so neutral words"
        verdict = "neutral words" if self.neutral else "kept"
        return f"'{self.word}': the other gender's share {self.other_share:.2f}: {verdict}"


class GenderCheck:
    """Built once per vocabulary; `odds`: how many times as probable as the other gender, at
    its word, the decoder must find the gender it wrote (DecodingConfig.gender_odds)."""

    def __init__(self, vocabulary: Vocabulary, odds: float):
        self.vocabulary = vocabulary
        self.max_other_share = 1 / (1 + odds)
        ids = vocabulary.ids
        self.male = np.array(sorted(vocabulary.ids_of(MALE_WORDS)), dtype=np.int64)
        self.female = np.array(sorted(vocabulary.ids_of(FEMALE_WORDS)), dtype=np.int64)
        self.gender_of = {**dict.fromkeys(self.male.tolist(), "male"),
                          **dict.fromkeys(self.female.tolist(), "female")}
        self.neutral_of = {ids[word]: ids[neutral] for word, neutral in GENDER_NEUTRAL.items()
                           if word in ids and neutral in ids}
        self.articles = vocabulary.ids_of(PERSON_ARTICLES)
        # Where the vocabulary lacks a neutral word, that part is left as written.
        self.hedge = (tuple(ids[word] for word in HEDGE_NEUTRAL)
                      if all(word in ids for word in HEDGE_NEUTRAL) else ())
        self.conjunction = ids.get("and", -1)
        self.another = ids.get(ANOTHER)

    def position(self, tokens: tuple[int, ...]) -> int | None:
        """Where the decoder's probabilities are needed: the first word naming a gender, in a
        caption that names one gender; None where it names none or both."""
        named = [i for i, token in enumerate(tokens) if token in self.gender_of]
        if not named or len({self.gender_of[tokens[i]] for i in named}) == 2:
            return None
        return named[0]

    def judge(self, tokens: tuple[int, ...], probabilities: dict[int, np.ndarray]
              ) -> Judgement | None:
        """None where the caption names no gender. probabilities: the decoder's next-word
        probabilities at `position` (caption.model.sure_words reads them along the caption)."""
        named = [i for i, token in enumerate(tokens) if token in self.gender_of]
        if not named:
            return None
        first = self.position(tokens)
        if first is None:
            return Judgement(self.vocabulary.words[tokens[named[0]]], None, True)
        at = probabilities[first]
        male, female = at[self.male].sum(), at[self.female].sum()
        other = female if self.gender_of[tokens[first]] == "male" else male
        share = float(other / (male + female))
        return Judgement(self.vocabulary.words[tokens[first]], share,
                         share > self.max_other_share)

    def neutral(self, tokens: tuple[int, ...]) -> tuple[int, ...]:
        """The caption with neutral words: "a man and a woman" is "two people", each other
        gendered word its neutral one, and a second "a person" is "another" ("a person in a
        white shirt and another in a black shirt", not a caption that repeats itself; at the
        end, "another person")."""
        out: list[int] = []
        written: set[int] = set()
        i = 0
        while i < len(tokens):
            if self._hedges(tokens[i:i + 5]):
                out.extend(self.hedge)
                i += 5
                continue
            token = self.neutral_of.get(tokens[i], tokens[i])
            if (self.another is not None and token != tokens[i] and token in written and out
                    and out[-1] in self.articles):
                out[-1] = self.another
                if i + 1 == len(tokens) or tokens[i + 1] == self.vocabulary.end:
                    out.append(token)  # "in front of another person", not "of another"
            else:
                out.append(token)
            written.add(token)
            i += 1
        return tuple(out)

    def _hedges(self, words: tuple[int, ...]) -> bool:
        """"a man and a woman": an article, one gender, "and", an article, the other."""
        return (bool(self.hedge) and len(words) == 5 and words[0] in self.articles
                and words[2] == self.conjunction and words[3] in self.articles
                and {self.gender_of.get(words[1]), self.gender_of.get(words[4])}
                == {"male", "female"})
