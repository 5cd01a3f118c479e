"""Who a person is (a gender, an age) said only where the decoder is sure of it.

Flickr8k's people are nearly all named "a man", "a girl", so the decoder names a gender and an
age for most people, and often wrongly: on Flickr8k val, bundle 2026.12.07.4 called 65 women men
and 9 men women, of the 465 photos whose references agree on a gender, and hedged with "a man
and a woman" for one person or a pair of one gender 19 times; and of the 363 photos whose
references agree on a child or an adult, it named the other in 71 captions (53 children called
adults). Someone reading alt text accepts "a person" for a man; not "a man" for a woman, or for
a toddler.

So after the search each caption is checked (caption.model.sure_words) at the first word that
names a person's gender or age: the decoder's own next-word probabilities there, given the
words before, are summed over each gender's words and over each age's. Where the other gender,
or the other age, holds more than `1 / (1 + odds)` of its sum, the decoder was not `odds` times
as sure of what it wrote. A caption that names both genders ("a man and a woman") hedges, and
on Flickr8k val such a hedge was wrong on more photos than it was right, where the references
agree. Where the gender is in doubt the caption says the same with words without it
(caption.model.words.GENDER_NEUTRAL: "a child", "two people are standing on a street"); where
the age is, with words without either (AGE_NEUTRAL: "a person is sitting on a slide").
Nothing else in it changes, so it keeps its count, colours and verbs, and its score stays
the decoder's for the words it chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.vocabulary import Vocabulary
from caption.model.words import (
    ADULT_WORDS,
    AGE_ADJECTIVES,
    AGE_NEUTRAL,
    ANOTHER,
    CHILD_WORDS,
    CONJUNCTION,
    FEMALE_WORDS,
    GENDER_NEUTRAL,
    HEDGE_NEUTRAL,
    MALE_WORDS,
    PERSON_ARTICLES,
)


@dataclass(frozen=True)
class Judgement:
    """What the check found in one caption."""

    word: str  # the first word that names a person's gender or age
    gender_share: float | None  # the other gender's share there (None: no gender, or both)
    age_share: float | None  # the other age's share there (None: no age named)
    gender_unsure: bool  # said without the gender
    age_unsure: bool  # said without the age (nor the gender)

    def reason(self) -> str:
        found = []
        if self.gender_share is not None:
            found.append(f"the other gender's share {self.gender_share:.2f}")
        elif self.gender_unsure:
            found.append("both genders named")
        if self.age_share is not None:
            found.append(f"the other age's share {self.age_share:.2f}")
        verdict = ("words without an age" if self.age_unsure else
                   "words without a gender" if self.gender_unsure else "kept")
        return f"'{self.word}': {', '.join(found)}: {verdict}"


class PersonCheck:
    """Built once per vocabulary; `odds`: how many times as probable as the other gender, and
    as the other age, at its word, the decoder must find what it wrote
    (DecodingConfig.person_odds)."""

    def __init__(self, vocabulary: Vocabulary, odds: float):
        self.vocabulary = vocabulary
        self.max_other_share = 1 / (1 + odds)
        ids = vocabulary.ids
        self.male = np.array(sorted(vocabulary.ids_of(MALE_WORDS)), dtype=np.int64)
        self.female = np.array(sorted(vocabulary.ids_of(FEMALE_WORDS)), dtype=np.int64)
        self.child = np.array(sorted(vocabulary.ids_of(CHILD_WORDS)), dtype=np.int64)
        self.adult = np.array(sorted(vocabulary.ids_of(ADULT_WORDS)), dtype=np.int64)
        self.gender_of = {**dict.fromkeys(self.male.tolist(), "male"),
                          **dict.fromkeys(self.female.tolist(), "female")}
        self.age_of = {**dict.fromkeys(self.child.tolist(), "child"),
                       **dict.fromkeys(self.adult.tolist(), "adult")}
        self.without_gender = self._ids(GENDER_NEUTRAL)
        self.without_age = self._ids(AGE_NEUTRAL)
        self.age_adjectives = vocabulary.ids_of(AGE_ADJECTIVES)
        self.articles = vocabulary.ids_of(PERSON_ARTICLES)
        # Where the vocabulary lacks a neutral word, that part is left as written.
        self.hedge = (tuple(ids[word] for word in HEDGE_NEUTRAL)
                      if all(word in ids for word in HEDGE_NEUTRAL) else ())
        self.conjunction = ids.get(CONJUNCTION, -1)
        self.another = ids.get(ANOTHER)

    def _ids(self, table: dict[str, str]) -> dict[int, int]:
        ids = self.vocabulary.ids
        return {ids[word]: ids[neutral] for word, neutral in table.items()
                if word in ids and neutral in ids}

    def position(self, tokens: tuple[int, ...]) -> int | None:
        """Where the decoder's probabilities are needed: the first word naming a person's
        gender or age; None where there is none."""
        return next((i for i, token in enumerate(tokens)
                     if token in self.gender_of or token in self.age_of), None)

    def judge(self, tokens: tuple[int, ...], probabilities: dict[int, np.ndarray]
              ) -> Judgement | None:
        """None where the caption names no gender or age. probabilities: the decoder's
        next-word probabilities at `position` (caption.model.sure_words reads them)."""
        first = self.position(tokens)
        if first is None:
            return None
        word, at = tokens[first], probabilities[first]
        hedged = len({self.gender_of[t] for t in tokens if t in self.gender_of}) == 2
        gender_share = age_share = None
        if word in self.gender_of and not hedged:
            gender_share = _other_share(at, self.male, self.female,
                                        self.gender_of[word] == "male")
        if word in self.age_of:
            age_share = _other_share(at, self.child, self.adult, self.age_of[word] == "child")
        return Judgement(self.vocabulary.words[word], gender_share, age_share,
                         hedged or (gender_share or 0.0) > self.max_other_share,
                         (age_share or 0.0) > self.max_other_share)

    def neutral(self, tokens: tuple[int, ...], judgement: Judgement) -> tuple[int, ...]:
        """The caption as the judgement says it: "a man and a woman" is "two people"; without
        the gender, each gendered word its neutral one ("a child"); without the age, each
        word for a person "a person" or "people", with no "little" or "young" before it; and
        a second "a person" is "another" ("a person in a white shirt and another in a black
        shirt", not a caption that repeats itself; at the end, "another person")."""
        if not (judgement.gender_unsure or judgement.age_unsure):
            return tokens
        table = self.without_age if judgement.age_unsure else self.without_gender
        out: list[int] = []
        written: set[int] = set()
        i = 0
        while i < len(tokens):
            if self._hedges(tokens[i:i + 5]):
                out.extend(self.hedge)
                i += 5
                continue
            token = table.get(tokens[i], tokens[i])
            if judgement.age_unsure and tokens[i] in self.age_of:
                while out and out[-1] in self.age_adjectives:
                    out.pop()  # "a little girl" is "a person", not "a little person"
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


def _other_share(probabilities: np.ndarray, first: np.ndarray, second: np.ndarray,
                 wrote_first: bool) -> float:
    """The share of the other group's words in the probability of both groups' words."""
    a, b = probabilities[first].sum(), probabilities[second].sum()
    return float((b if wrote_first else a) / (a + b))
