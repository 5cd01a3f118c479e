"""Wrong gender: how often the best caption calls a person the gender the people who described
the photo did not.

A photo has a gender where at least 3 of its references name one ("a woman", "two girls") and
none names only the other; photos of mixed groups ("a man and a woman") and of people the
references leave ungendered are left out. A caption is wrong where it names only the other
gender, and neutral where it names none ("a person", "a child", "two people"): a neutral word
is never wrong, only less specific. A caption naming both ("a man and a woman" for one woman) is
not counted wrong but counted apart, as `both_genders`: a decoder taught to avoid the wrong
word can learn to hedge.
"""

from __future__ import annotations

from caption.model.words import FEMALE_WORDS, MALE_WORDS
from caption.text import normalize

# The same words as the decoding's person check (caption.model.sure_person): which words name a
# gender is not a judgement the rule could bias; whether the gender is right comes from the
# references.
MALE, FEMALE = MALE_WORDS, FEMALE_WORDS
AGREEING_REFERENCES = 3


GENDERS = {"male": MALE, "female": FEMALE}


def named(text: str, groups: dict[str, frozenset[str]]) -> set[str]:
    """Which of two groups of words (genders, ages) a text names."""
    words = set(normalize(text).split())
    return {name for name, vocabulary in groups.items() if words & vocabulary}


def agreed(references: list[str], groups: dict[str, frozenset[str]]) -> str | None:
    """The one of two groups the references agree on: named alone by at least
    AGREEING_REFERENCES of them while none names the other alone; else None."""
    found = [named(reference, groups) for reference in references]
    for group, other in (tuple(groups), tuple(groups)[::-1]):
        alone = sum(names == {group} for names in found)
        if alone >= AGREEING_REFERENCES and not any(names == {other} for names in found):
            return group
    return None


def genders_named(text: str) -> set[str]:
    return named(text, GENDERS)


def photo_gender(references: list[str]) -> str | None:
    """The gender the references agree on, or None (no agreement, or a mixed group)."""
    return agreed(references, GENDERS)


def tally(predictions: dict[str, str], references: dict[str, list[str]],
          groups: dict[str, frozenset[str]]) -> dict[str, int]:
    """Over the photos whose references agree on one of two groups (caption.metrics.age's
    too): how many were judged, how many best captions name neither group or both, and how
    many name only the other group, as "{truth}_called_{other}"."""
    first, second = groups
    counts = {"judged": 0, "neither": 0, "both": 0, f"{first}_called_{second}": 0,
              f"{second}_called_{first}": 0}
    for image, caption in predictions.items():
        truth = agreed(references[image], groups)
        if truth is None:
            continue
        counts["judged"] += 1
        said = named(caption, groups)
        counts["neither"] += not said
        counts["both"] += len(said) == 2
        other = second if truth == first else first
        counts[f"{truth}_called_{other}"] += said == {other}
    return counts


def wrong_gender(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Over the photos whose references agree on a gender: the share (%) of best captions that
    name only the other one, each direction's count, the share that names none, and the count
    that names both."""
    counts = tally(predictions, references, GENDERS)
    judged = counts["judged"]
    wrong = {key: counts[key] for key in ("female_called_male", "male_called_female")}
    return {"wrong_gender": share(sum(wrong.values()), judged), "gender_judged": judged,
            "gender_neutral": share(counts["neither"], judged), "both_genders": counts["both"],
            **wrong}


def share(count: int, judged: int) -> float | None:
    return round(100 * count / judged, 1) if judged else None
