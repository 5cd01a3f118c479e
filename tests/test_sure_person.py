"""Who a person is said only where the decoder is sure of it (caption.model.sure_person, read
along each caption by caption.model.sure_words): the words without a gender or an age, the
decoder's shares for the other gender and the other age at the word, and the shipped bundle's
captions through the real decoding path."""

from __future__ import annotations

import dataclasses
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from caption.metrics.age import ages_named
from caption.metrics.gender import genders_named
from caption.model.search import Hypothesis
from caption.model.sure_person import Judgement, PersonCheck
from caption.model.sure_words import SureWords
from caption.model.vocabulary import SPECIALS, Vocabulary
from tests.table_decoder import TableDecoder

WORDS = ("a an two people person another child children their and is are in of front shirt "
         "red black standing sitting on bench slide man woman boy girl men women his her "
         "little toddler boys").split()
VOCAB = Vocabulary([*SPECIALS, *WORDS])
WITHOUT_GENDER = Judgement("man", 0.5, None, True, False)
WITHOUT_AGE = Judgement("man", None, 0.5, False, True)


def tokens(text: str) -> tuple[int, ...]:
    return (*(VOCAB.ids[word] for word in text.split()), VOCAB.end)


def said(text: str, judgement: Judgement) -> str:
    return VOCAB.decode(PersonCheck(VOCAB, 3.0).neutral(tokens(text), judgement))


@pytest.mark.parametrize(("written", "neutral"), [
    ("a man is sitting on a bench", "a person is sitting on a bench"),
    ("a little girl in a red shirt", "a little child in a red shirt"),
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
def test_without_the_gender_the_rest_of_the_caption_stays(written, neutral):
    assert said(written, WITHOUT_GENDER) == neutral
    assert genders_named(neutral) == set()


@pytest.mark.parametrize(("written", "neutral"), [
    ("a man is sitting on a slide", "a person is sitting on a slide"),
    ("a little girl in a red shirt", "a person in a red shirt"),
    ("two boys are standing", "two people are standing"),
    ("a toddler is sitting on a bench", "a person is sitting on a bench"),
])
def test_without_the_age_a_person_is_a_person(written, neutral):
    assert said(written, WITHOUT_AGE) == neutral
    assert genders_named(neutral) == set() and ages_named(neutral) == set()


def test_a_word_the_vocabulary_lacks_is_left_as_written():
    vocabulary = Vocabulary([*SPECIALS, "a", "man", "is", "sitting", "and", "woman"])
    check = PersonCheck(vocabulary, 3.0)
    written = tuple(vocabulary.ids[w] for w in "a man and a woman is sitting".split())
    # No "person", "two" or "people" to say it with: nothing can be said instead.
    assert check.neutral(written, WITHOUT_GENDER) == written


def person_decoder(after_a: dict[str, float]) -> TableDecoder:
    """After "a": the people's probabilities from a table; nothing else after it."""
    return TableDecoder(VOCAB, after_a)


def found(*texts: str) -> list[Hypothesis]:
    return [Hypothesis(tokens(text), -1.0 - i) for i, text in enumerate(texts)]


def sure(odds: float) -> SureWords:
    return SureWords(VOCAB.start, PersonCheck(VOCAB, odds))


def test_the_other_genders_share_at_the_word_decides():
    # After "a": man 0.5 + boy 0.1 against woman 0.15 + girl 0.05: the other gender holds
    # 0.2 / 0.8 = 0.25 of the gendered probability; the adults (man, woman) 0.65 against the
    # children (boy, girl) 0.15: the other age holds 0.15 / 0.8.
    decoder = person_decoder({"man": 0.5, "boy": 0.1, "woman": 0.15, "girl": 0.05})
    written = found("a man is sitting on a bench")
    # Three times as sure: kept. Not four times: words without the gender.
    kept, checked = sure(3.0).said(decoder, None, written, 3)
    assert [VOCAB.decode(h.tokens) for h in kept] == ["a man is sitting on a bench"]
    assert checked[0].person.word == "man"
    assert checked[0].person.gender_share == pytest.approx(0.25)
    assert checked[0].person.age_share == pytest.approx(0.15 / 0.8)
    neutral, checked = sure(4.0).said(decoder, None, written, 3)
    assert [VOCAB.decode(h.tokens) for h in neutral] == ["a person is sitting on a bench"]
    assert checked[0].person.gender_unsure and not checked[0].person.age_unsure
    assert "gender's share 0.25" in checked[0].reasons()[0]
    assert neutral[0].score == written[0].score  # the score is the decoder's, as written


def test_the_other_ages_share_at_the_word_decides():
    # A toddler the decoder calls a man, with the children close behind: no age, no gender.
    decoder = person_decoder({"man": 0.45, "boy": 0.3, "toddler": 0.1})
    out, checked = sure(3.0).said(decoder, None, found("a man is sitting on a slide"), 1)
    assert checked[0].person.age_share == pytest.approx(0.4 / 0.85)
    assert checked[0].person.age_unsure
    assert [VOCAB.decode(h.tokens) for h in out] == ["a person is sitting on a slide"]


def test_captions_that_become_one_are_said_once_up_to_the_number_asked():
    decoder = person_decoder({"man": 0.4, "woman": 0.4})
    written = found("a man is sitting on a bench", "a woman is sitting on a bench",
                    "a man is standing", "two people are standing")
    out, checked = sure(3.0).said(decoder, None, written, 2)
    assert [VOCAB.decode(h.tokens) for h in out] == ["a person is sitting on a bench",
                                                    "a person is standing"]
    assert len(checked) == 3  # the fourth was never needed
    # Both genders named is a hedge whatever the probabilities.
    hedge = PersonCheck(VOCAB, 3.0).judge(tokens("a man and a woman are standing"),
                                          {1: np.full(len(VOCAB), 0.01)})
    assert hedge.gender_unsure and hedge.gender_share is None


def test_a_decoder_without_next_word_probabilities_keeps_its_captions():
    class RankOnly:
        def start(self, features):
            raise AssertionError("not asked")

    written = found("a woman is sitting on a bench", "a man is standing")
    out, checked = sure(3.0).said(RankOnly(), None, written, 1)
    assert out == written[:1] and checked == []


def test_the_shipped_bundle_names_who_a_person_is_as_sure_as_asked(shipped, photos):
    """The real path: the decoder's own probabilities for the astronaut (the decoder calls her
    "a man", sure of it). At odds it meets, her captions are kept; at odds it cannot meet,
    each says "a person"; without the check, as written."""
    image = Image.open(BytesIO(photos["astronaut"])).convert("RGB")
    decoding = shipped.decoding
    served = decoding.config
    try:
        texts = {}
        for odds in (None, 3.0, 1e9):
            decoding.config = dataclasses.replace(served, person_odds=odds)
            texts[odds] = [c.text for c in shipped.describe([image])[0].captions]
    finally:
        decoding.config = served
    assert texts[3.0] == texts[None]
    assert all(genders_named(text) == {"male"} for text in texts[None])
    assert all(genders_named(text) == set() for text in texts[1e9])
    assert [t.replace("a man ", "a person ", 1) for t in texts[None]] == texts[1e9]
