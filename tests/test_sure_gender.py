"""A gender named only where the decoder is sure of it (caption.model.sure_gender, read along
each caption by caption.model.sure_words): the neutral words, the decoder's share for the
other gender at the word, and the shipped bundle's captions through the real decoding path."""

from __future__ import annotations

import dataclasses
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from caption.metrics.gender import genders_named
from caption.model.search import Hypothesis
from caption.model.sure_gender import GenderCheck
from caption.model.sure_words import SureWords
from caption.model.vocabulary import SPECIALS, Vocabulary

WORDS = ("a an two people person another child children their and is are in of front shirt "
         "red black standing sitting on bench man woman boy girl men women his her").split()
VOCAB = Vocabulary([*SPECIALS, *WORDS])


def tokens(text: str) -> tuple[int, ...]:
    return (*(VOCAB.ids[word] for word in text.split()), VOCAB.end)


def said(check: GenderCheck, text: str) -> str:
    return VOCAB.decode(check.neutral(tokens(text)))


@pytest.mark.parametrize(("written", "neutral"), [
    ("a man is sitting on a bench", "a person is sitting on a bench"),
    ("a girl in a red shirt", "a child in a red shirt"),
    ("two women are standing", "two people are standing"),
    ("a boy in his red shirt", "a child in their red shirt"),
    # The hedge: one phrase for two people, with the verb it already agrees with.
    ("a man and a woman are sitting on a bench", "two people are sitting on a bench"),
    # Two people named apart: the second is "another", so the caption does not repeat itself.
    ("a man in a red shirt and a woman in a black shirt",
     "a person in a red shirt and another in a black shirt"),
    ("a woman is standing in front of a man",
     "a person is standing in front of another person"),
])
def test_neutral_words_keep_the_rest_of_the_caption(written, neutral):
    assert said(GenderCheck(VOCAB, 3.0), written) == neutral
    assert genders_named(neutral) == set()


def test_a_word_the_vocabulary_lacks_is_left_as_written():
    vocabulary = Vocabulary([*SPECIALS, "a", "man", "is", "sitting", "and", "woman"])
    check = GenderCheck(vocabulary, 3.0)
    written = tuple(vocabulary.ids[w] for w in "a man and a woman is sitting".split())
    # No "person", "two" or "people" to say it with: nothing can be said instead.
    assert check.neutral(written) == written


class FixedDecoder:
    """Next-word probabilities from a table by the previous word: the share the check weighs."""

    def __init__(self, after_a: dict[str, float]):
        self.after_a = after_a

    def start(self, features):
        return None

    def log_probs(self, tokens, state):
        probabilities = np.zeros(len(VOCAB))
        if tokens[0] == VOCAB.ids["a"]:
            for word, p in self.after_a.items():
                probabilities[VOCAB.ids[word]] = p
        else:
            probabilities[VOCAB.ids["a"]] = 0.9
        with np.errstate(divide="ignore"):
            return np.log(probabilities)[None], state


def found(*texts: str) -> list[Hypothesis]:
    return [Hypothesis(tokens(text), -1.0 - i) for i, text in enumerate(texts)]


def sure(odds: float) -> SureWords:
    return SureWords(VOCAB.start, GenderCheck(VOCAB, odds))


def test_the_other_genders_share_at_the_word_decides():
    # After "a": man 0.5 + boy 0.1 against woman 0.15 + girl 0.05: the other gender holds
    # 0.2 / 0.8 = 0.25 of the gendered probability.
    decoder = FixedDecoder({"man": 0.5, "boy": 0.1, "woman": 0.15, "girl": 0.05})
    written = found("a man is sitting on a bench")
    # Three times as sure: kept. Not four times: neutral words.
    kept, checked = sure(3.0).said(decoder, None, written, 3)
    assert [VOCAB.decode(h.tokens) for h in kept] == ["a man is sitting on a bench"]
    assert checked[0].gender.word == "man"
    assert checked[0].gender.other_share == pytest.approx(0.25)
    neutral, checked = sure(4.0).said(decoder, None, written, 3)
    assert [VOCAB.decode(h.tokens) for h in neutral] == ["a person is sitting on a bench"]
    assert checked[0].gender.neutral and "0.25" in checked[0].reasons()[0]
    assert neutral[0].score == written[0].score  # the score is the decoder's, as written


def test_captions_that_become_one_are_said_once_up_to_the_number_asked():
    decoder = FixedDecoder({"man": 0.4, "woman": 0.4})
    written = found("a man is sitting on a bench", "a woman is sitting on a bench",
                    "a man is standing", "two people are standing")
    out, checked = sure(3.0).said(decoder, None, written, 2)
    assert [VOCAB.decode(h.tokens) for h in out] == ["a person is sitting on a bench",
                                                    "a person is standing"]
    assert len(checked) == 3  # the fourth was never needed
    # Both genders named is a hedge whatever the probabilities: none are needed.
    hedge = GenderCheck(VOCAB, 3.0).judge(tokens("a man and a woman are standing"), {})
    assert hedge.neutral and hedge.other_share is None


def test_a_decoder_without_next_word_probabilities_keeps_its_captions():
    class RankOnly:
        def start(self, features):
            raise AssertionError("not asked")

    written = found("a woman is sitting on a bench", "a man is standing")
    out, checked = sure(3.0).said(RankOnly(), None, written, 1)
    assert out == written[:1] and checked == []


def test_the_shipped_bundle_names_a_gender_as_sure_as_asked(shipped, photos):
    """The real path: the decoder's own probabilities for the astronaut (the decoder calls her
    "a man", sure of it at about 50 to 1). At odds it meets, her captions are kept; at odds it
    cannot meet, each says "a person"; without the check, as written."""
    image = Image.open(BytesIO(photos["astronaut"])).convert("RGB")
    decoding = shipped.decoding
    served = decoding.config
    try:
        texts = {}
        for odds in (None, 3.0, 1e9):
            decoding.config = dataclasses.replace(served, gender_odds=odds)
            texts[odds] = [c.text for c in shipped.describe([image])[0].captions]
    finally:
        decoding.config = served
    assert texts[3.0] == texts[None]
    assert all(genders_named(text) == {"male"} for text in texts[None])
    assert all(genders_named(text) == set() for text in texts[1e9])
    assert [t.replace("a man ", "a person ", 1) for t in texts[None]] == texts[1e9]
