"""Wrong age: how often the best caption calls a child an adult, or an adult a child, where the
people who described the photo agree which it is.

A photo has an age where at least 3 of its references name a child ("a little girl", "two
boys", "a toddler") and none names only an adult, or the other way round. A caption is wrong
where it names only the other age, and neutral where it names neither ("a person", "two
people"): a neutral word is never wrong, only less specific.
"""

from __future__ import annotations

from caption.metrics.gender import agreed, named, share, tally
from caption.model.words import ADULT_WORDS, CHILD_WORDS

AGES = {"child": CHILD_WORDS, "adult": ADULT_WORDS}


def ages_named(text: str) -> set[str]:
    return named(text, AGES)


def photo_age(references: list[str]) -> str | None:
    """The age the references agree on, or None (no agreement, or children with adults)."""
    return agreed(references, AGES)


def wrong_age(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Over the photos whose references agree on an age: the share (%) of best captions that
    name only the other one, and each direction's count."""
    counts = tally(predictions, references, AGES)
    wrong = {key: counts[key] for key in ("child_called_adult", "adult_called_child")}
    return {"wrong_age": share(sum(wrong.values()), counts["judged"]),
            "age_judged": counts["judged"], **wrong}
