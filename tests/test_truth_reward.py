"""The self-critical reward's charges for what a photo's references do not say
(caption.train.stages.truth_reward)."""

from __future__ import annotations

from caption.metrics.cider import CiderD
from caption.text import tokenize
from caption.train.stages.truth_reward import TruthfulCider, TruthPenalties
from tests.test_gender import COUPLE, WOMAN

REFERENCES = {"w": WOMAN, "c": COUPLE}


def _scores(penalties: TruthPenalties, samples: list[tuple[str, str]]) -> tuple[list, list]:
    cider = CiderD({name: [tokenize(text) for text in texts]
                    for name, texts in REFERENCES.items()})
    pairs = [(name, tokenize(text)) for name, text in samples]
    return cider.scores(pairs), TruthfulCider(cider, REFERENCES, penalties).scores(pairs)


def test_the_wrong_gender_is_charged_and_hedging_too_but_never_a_neutral_word():
    samples = [("w", "a man runs on the beach"), ("w", "a man and a woman run on the beach"),
               ("w", "a woman runs on the beach"), ("w", "a person runs on the beach"),
               ("c", "a man sits on a bench")]
    plain, charged = _scores(TruthPenalties(wrong_gender=0.5), samples)
    assert charged[:2] == [plain[0] - 0.5, plain[1] - 0.5]
    assert charged[2:] == plain[2:]  # the right gender, a neutral word, a mixed group's photo


def test_a_class_or_a_place_no_reference_names_is_charged_once_each():
    samples = [("w", "a woman runs on the beach with a dog and a cat"),
               ("w", "a woman runs in the snow"), ("c", "a man sits on a bench")]
    plain, charged = _scores(TruthPenalties(invented_class=0.25, invented_place=0.5), samples)
    assert charged == [plain[0] - 0.25, plain[1] - 0.5, plain[2]]


def test_no_penalty_is_plain_cider():
    assert not TruthPenalties()
    plain, charged = _scores(TruthPenalties(), [("w", "a man runs in the snow")])
    assert charged == plain
