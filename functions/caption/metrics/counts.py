"""Unbacked numbers: how often the best caption says how many ("two dogs", "three people") where
no one who described the photo said that many.

A caption's number is its first number word (caption.model.words.NUMBER_WORDS, the words the
decoding's count rule knows). It is backed where at least one reference says the same number,
or for two, "a couple", "a pair", "both" or "twins". Captions that name no number are never
wrong here: "a group of people" and "dogs" claim no count.
"""

from __future__ import annotations

from caption.model.words import NUMBER_WORDS
from caption.text import normalize

# Words people use for two things without the number.
TWO_WORDS = frozenset({"couple", "pair", "both", "twins", "2"})


def number_said(text: str) -> int | None:
    """The first number a text says, or None."""
    for word in normalize(text).split():
        if word in NUMBER_WORDS:
            return NUMBER_WORDS[word]
        if word.isdigit() and 1 < int(word) <= 10:
            return int(word)
    return None


def backs(reference: str, number: int) -> bool:
    """Whether a reference says `number` (as a word, a digit or, for two, another word)."""
    words = set(normalize(reference).split())
    if number == 2 and words & TWO_WORDS:
        return True
    return any(NUMBER_WORDS.get(word) == number or word == str(number) for word in words)


def unbacked_numbers(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """The share (%) of best captions whose number no reference says, and how many captions
    say a number at all."""
    said = unbacked = 0
    for image, caption in predictions.items():
        number = number_said(caption)
        if number is None:
            continue
        said += 1
        unbacked += not any(backs(reference, number) for reference in references[image])
    return {"unbacked_numbers": round(100 * unbacked / max(len(predictions), 1), 1),
            "numbers_said": said, "numbers_unbacked": unbacked}
