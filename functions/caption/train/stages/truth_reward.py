"""A self-critical reward that charges a caption for saying what the photo's describers did not.

CIDEr-D alone rewards the commonest n-grams, true or not. In Flickr8k "a man" is far commoner
than "a woman", and the served decoder called 37 % of the val photos its references call female
"man" or "boy", against 24 % before self-critical training (caption.metrics.gender). Barring
words at decoding time cannot fix that: the decoder has to learn it. A sample here is scored by
CIDEr-D as before, less a penalty for each kind of invention (each at most once a caption):

- `wrong_gender`: it names the gender opposite to the one its references agree on
  (caption.metrics.gender.photo_gender) where none of them names that other gender at all.
  Hedging counts: "a man and a woman" for one woman invents the man. A neutral word ("a
  person", "a child") is never charged, so a decoder that cannot tell learns to say so;
- `invented_class`: it names a COCO class (caption.metrics.subjects, as CHAIR counts them) that
  no reference names;
- `invented_place`: it puts the subject in a kind of place (caption.metrics.faults.places_named)
  that no reference mentions.

Each penalty at 0 leaves that kind alone; all at 0 is plain CIDEr-D.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from caption.metrics.cider import CiderD
from caption.metrics.faults import places_named
from caption.metrics.gender import genders_named, photo_gender
from caption.metrics.subjects import classes_named


@dataclass(frozen=True)
class TruthPenalties:
    wrong_gender: float = 0.0
    invented_class: float = 0.0
    invented_place: float = 0.0

    def __bool__(self) -> bool:
        return any((self.wrong_gender, self.invented_class, self.invented_place))


def sole_gender(references: list[str]) -> str | None:
    """The gender the references agree on where none of them names the other at all."""
    truth = photo_gender(references)
    if truth is None or any(genders_named(text) - {truth} for text in references):
        return None
    return truth


@dataclass(frozen=True)
class _Described:
    """What a photo's references say: the one gender, the COCO classes, the places."""

    gender: str | None
    classes: frozenset[str]
    places: frozenset[str]

    @classmethod
    def of(cls, references: list[str]) -> _Described:
        return cls(sole_gender(references),
                   frozenset().union(*(classes_named(text) for text in references)),
                   frozenset().union(*(places_named(text) for text in references)))


def inventions(text: str, described: _Described) -> set[str]:
    """The kinds of invention (`TruthPenalties`' field names) in `text`."""
    found = set()
    if described.gender is not None and genders_named(text) - {described.gender}:
        found.add("wrong_gender")
    if classes_named(text) - described.classes:
        found.add("invented_class")
    if places_named(text) - described.places:
        found.add("invented_place")
    return found


class TruthfulCider:
    """CIDEr-D against the references, less `penalties` for what they do not support;
    `scores` takes (image, words) pairs as CiderD.scores does."""

    def __init__(self, cider: CiderD, references: dict[str, list[str]],
                 penalties: TruthPenalties):
        self.cider, self.penalties = cider, penalties
        self.described = {image: _Described.of(texts) for image, texts in references.items()}

    def scores(self, pairs: Iterable[tuple[str, Sequence[str]]]) -> list[float]:
        out = []
        for image, words in pairs:
            invented = inventions(" ".join(words), self.described[image])
            out.append(self.cider.score(image, words)
                       - sum(getattr(self.penalties, kind) for kind in invented))
        return out
