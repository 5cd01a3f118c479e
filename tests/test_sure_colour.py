"""A colour named only where the decoder is sure of it (caption.model.sure_colour, read along
each caption by caption.model.sure_words): which colours are judged, what is left when one is
left out, the decoder's share at the word, and the shipped bundle's captions."""

from __future__ import annotations

import dataclasses
from io import BytesIO

import pytest
from PIL import Image

from caption.model.search import Hypothesis
from caption.model.sure_colour import ColourCheck
from caption.model.sure_words import SureWords
from caption.model.vocabulary import SPECIALS, Vocabulary
from caption.model.words import COLOURS
from tests.table_decoder import TableDecoder

WORDS = ("a an and in is on with man dog dogs cat shirt fire hydrant orange black white red "
         "brown sitting water").split()
VOCAB = Vocabulary([*SPECIALS, *WORDS])


def tokens(text: str) -> tuple[int, ...]:
    return (*(VOCAB.ids[word] for word in text.split()), VOCAB.end)


def runs(text: str) -> list[str]:
    written = tokens(text)
    return [VOCAB.decode(written[start:end]) for start, end in
            ColourCheck(VOCAB, 0.4).positions(written)]


def test_a_run_of_colours_is_judged_where_it_describes_a_noun_named_once():
    assert runs("a man in a red shirt") == ["red"]
    assert runs("a black and white dog is sitting in water") == ["black and white"]
    # The colour is the noun: nothing to leave it out of.
    assert runs("a man in black") == []
    assert runs("a dog in black and white") == []
    assert runs("a red and white sitting in water") == []  # a verb, not a noun, follows
    # It tells two dogs apart.
    assert runs("a black dog and a white dog") == []


def colour_decoder(after_a: dict[str, float]) -> TableDecoder:
    """After "a": the colours' probabilities from a table; every other word 0.01."""
    return TableDecoder(VOCAB, after_a, elsewhere=0.01)


def said(decoder, text: str, min_share: float) -> tuple[str, list[str]]:
    sure = SureWords(VOCAB.start, colour=ColourCheck(VOCAB, min_share))
    out, checked = sure.said(decoder, None, [Hypothesis(tokens(text), -1.0)], 1)
    return VOCAB.decode(out[0].tokens), checked[0].reasons()


def test_a_colour_the_decoder_gave_too_little_of_its_colour_probability_is_left_out():
    # After "a": red 0.3 of red + black + white + brown + orange (0.3 + 0.3 + 0.2 + 0.1 + 0.1),
    # each other colour 0.01 of the rest: red's share is 0.3 / 1.07.
    decoder = colour_decoder({"red": 0.3, "black": 0.3, "white": 0.2, "brown": 0.1,
                             "orange": 0.1})
    share = 0.3 / (1.0 + 0.01 * (len(COLOURS & set(WORDS)) - 5))
    sure = SureWords(VOCAB.start, colour=ColourCheck(VOCAB, 0.4))
    written = Hypothesis(tokens("a red fire hydrant is sitting in water"), -2.7)
    out, _ = sure.said(decoder, None, [written], 1)
    assert out[0].score == pytest.approx(written.score)  # the decoder's, for what it wrote
    text, reasons = said(decoder, "a red fire hydrant is sitting in water", 0.4)
    assert text == "a fire hydrant is sitting in water"
    assert reasons == [f"'red': its share of the colours {share:.2f}: left out"]
    assert said(decoder, "a red fire hydrant is sitting in water", 0.25)[0] == (
        "a red fire hydrant is sitting in water")


def test_the_article_agrees_with_the_word_after_a_colour_left_out():
    decoder = colour_decoder({"orange": 0.2, "white": 0.5, "black": 0.3})
    assert said(decoder, "an orange cat is sitting with a man", 0.4)[0] == (
        "a cat is sitting with a man")
    assert said(decoder, "a black and white dog is sitting in water", 0.4)[0] == (
        "a dog is sitting in water")
    assert said(decoder, "a white dog is sitting in water", 0.4)[0] == (
        "a white dog is sitting in water")


@pytest.mark.parametrize("min_share", [None, 1.01])
def test_the_shipped_bundle_names_a_colour_as_sure_as_asked(shipped, photos, min_share):
    """The real path on the astronaut ("a man in a red shirt is in a red and white uniform"):
    at a share no colour can reach, every colour that describes a noun named once goes; without
    the check, each caption is as the decoder wrote it."""
    image = Image.open(BytesIO(photos["astronaut"])).convert("RGB")
    decoding = shipped.decoding
    served = decoding.config
    try:
        decoding.config = dataclasses.replace(served, colour_min_share=None)
        written = [c.text for c in shipped.describe([image])[0].captions]
        decoding.config = dataclasses.replace(served, colour_min_share=min_share)
        texts = [c.text for c in shipped.describe([image])[0].captions]
    finally:
        decoding.config = served
    assert any(set(text.split()) & COLOURS for text in written)
    if min_share is None:
        assert texts == written
    else:
        assert texts and not any(set(text.split()) & COLOURS for text in texts)
        assert texts[0] == "a man in a shirt is in a uniform"
