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

# The same words as the decoding's gender check (caption.model.sure_gender): which words name a
# gender is not a judgement the rule could bias; whether the gender is right comes from the
# references.
MALE, FEMALE = MALE_WORDS, FEMALE_WORDS
AGREEING_REFERENCES = 3


def genders_named(text: str) -> set[str]:
    words = set(normalize(text).split())
    return {name for name, vocabulary in (("male", MALE), ("female", FEMALE))
            if words & vocabulary}


def photo_gender(references: list[str]) -> str | None:
    """The gender the references agree on, or None (no agreement, or a mixed group)."""
    named = [genders_named(reference) for reference in references]
    for gender, other in (("male", "female"), ("female", "male")):
        alone = sum(found == {gender} for found in named)
        if alone >= AGREEING_REFERENCES and not any(found == {other} for found in named):
            return gender
    return None


def wrong_gender(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Over the photos whose references agree on a gender: the share (%) of best captions that
    name only the other one, each direction's count, the share that names none, and the count
    that names both."""
    judged = neutral = both = 0
    wrong = {"female_called_male": 0, "male_called_female": 0}
    for image, caption in predictions.items():
        truth = photo_gender(references[image])
        if truth is None:
            continue
        judged += 1
        said = genders_named(caption)
        neutral += not said
        both += len(said) == 2
        if truth == "female" and said == {"male"}:
            wrong["female_called_male"] += 1
        elif truth == "male" and said == {"female"}:
            wrong["male_called_female"] += 1
    return {"wrong_gender": _share(sum(wrong.values()), judged), "gender_judged": judged,
            "gender_neutral": _share(neutral, judged), "both_genders": both, **wrong}


def _share(count: int, judged: int) -> float | None:
    return round(100 * count / judged, 1) if judged else None
