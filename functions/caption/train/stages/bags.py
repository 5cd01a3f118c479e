"""The bag of concepts a captioner is given: what the detector found in a photo, or what a
sentence names, corrupted the way the detector errs.

A photo's bag is what serving's detector reports: its peaks (caption.model.objects.Detections)
merged by class, each class with its best score and its boxes at COUNT_SCORE. A sentence's bag
(coco-text has no photos) is built to look like one: the classes it names, each with a score
drawn from the scores the detector gives classes that Flickr8k's captions name, plus the false
alarms of a random Flickr8k training photo (classes the detector reported that none of its five
captions names). Those rates are measured on Flickr8k's training photos by `detector_errors`,
not assumed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from caption.metrics.subjects import classes_named
from caption.model.bag import COUNT_SCORE, Bag, Slot
from caption.model.objects import COCO_CLASSES, Detections, from_peaks
from caption.model.words import NEVER_BARRED
from caption.text import normalize

PLURAL_HINTS = frozenset("two three four five six several many some group crowd pair couple "
                         "herd flock bunch lots".split())


def detections(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> Detections:
    """A cached photo's peaks (float16) as serving reads them. float16 -> float32 is exact, and
    no float16 value lies between 0.02 and its float32 rounding, so the floor keeps the same
    peaks it kept when compared in float64."""
    return from_peaks(COCO_CLASSES, boxes, scores.astype(np.float32), classes)


@dataclass(frozen=True)
class DetectorErrors:
    """Measured on photos with captions: how the detector reports classes people name."""

    named_scores: tuple[float, ...]  # best score of each named class it found (>= floor)
    recall: float  # share of classes 2+ captions name that reach the floor
    false_alarms: tuple[Bag, ...]  # per photo, the found classes no caption names

    def to_json(self) -> dict:
        sizes = [len(bag) for bag in self.false_alarms]
        return {"photos": len(self.false_alarms), "recall_at_floor": round(self.recall, 3),
                "false_alarms_per_photo": round(float(np.mean(sizes)), 3),
                "named_score_median": round(float(np.median(self.named_scores)), 3)}


def detector_errors(bags: list[Bag], captions: list[list[str]]) -> DetectorErrors:
    named_scores, false_alarms = [], []
    agreed = found_agreed = 0
    for bag, texts in zip(bags, captions, strict=True):
        named_counts: dict[str, int] = {}
        for text in texts:
            for name in classes_named(text):
                named_counts[name] = named_counts.get(name, 0) + 1
        found = {slot.concept: slot for slot in bag}
        for name, n in named_counts.items():
            if n >= 2:
                agreed += 1
                found_agreed += name in found
            if name in found:
                named_scores.append(found[name].score)
        false_alarms.append(tuple(s for s in bag if s.concept not in named_counts))
    return DetectorErrors(tuple(named_scores), found_agreed / max(agreed, 1),
                          tuple(false_alarms))


def barred_classes_named(text: str) -> set[str]:
    """The COCO classes a caption names with words serving bars where the class is not found."""
    return classes_named(" ".join(w for w in normalize(text).split() if w not in NEVER_BARRED))


def present_score(errors: DetectorErrors, rng: random.Random) -> float:
    """A score at which serving counts a class as found (COUNT_SCORE, its evidence threshold
    by default), drawn from those the detector gives named classes it finds that well."""
    return rng.choice([s for s in errors.named_scores if s >= COUNT_SCORE] or [COUNT_SCORE])


def aligned_bag(bag: Bag, named: set[str], errors: DetectorErrors, rng: random.Random) -> Bag:
    """The bag as serving would have to see it for the captions to be written: each class the
    captions name (`named`) found at a score serving names it at. Serving bars every COCO class
    it did not find; a decoder trained to name classes the detector missed (34 % of Flickr8k's
    training captions name one: dogs, people, balls) wants words serving bars, and where it
    is barred writes "a black and white fire is sitting on a wooden floor"."""
    slots = {slot.concept: slot for slot in bag}
    for name in sorted(named):
        slot = slots.get(name)
        if slot is None:
            slots[name] = Slot(name, present_score(errors, rng), 1)
        elif slot.score < COUNT_SCORE:
            slots[name] = Slot(name, present_score(errors, rng), slot.count)
    return tuple(sorted(slots.values(), key=lambda slot: -slot.score))


def align_bags(bags: list[Bag], captions: list[list[str]], errors: DetectorErrors,
               rng: random.Random) -> list[Bag]:
    """Each photo's bag aligned (aligned_bag) with the classes any of its captions name."""
    return [aligned_bag(bag, set().union(*map(barred_classes_named, texts)), errors, rng)
            for bag, texts in zip(bags, captions, strict=True)]


def sentence_count(tokens: list[str]) -> int:
    """1, or 2 where the sentence says there is more than one (a number word, "group")."""
    return 2 if PLURAL_HINTS & set(tokens) else 1


def sentence_bag(text: str, others: list[str], errors: DetectorErrors, rng: random.Random,
                 aligned: bool = False) -> Bag:
    """What the detector might report of the photo `text` describes: the classes it names
    (always: it may name only what it is given), those the photo's other captions name at the
    detector's measured recall, and one Flickr8k photo's false alarms. aligned: the classes it
    names at a score serving names them at (aligned_bag), not at any the detector gives."""
    tokens = text.lower().split()
    named = classes_named(text)
    extra = {name for other in others for name in classes_named(other)} - named
    kept = named | {name for name in extra if rng.random() < errors.recall}
    lifted = barred_classes_named(text) if aligned else set()
    bag = [Slot(name, present_score(errors, rng) if name in lifted
                else rng.choice(errors.named_scores), sentence_count(tokens))
           for name in sorted(kept)]
    alarms = rng.choice(errors.false_alarms)
    bag += [slot for slot in alarms if slot.concept not in kept]
    rng.shuffle(bag)
    return tuple(bag)


def retrieve(bag: Bag, sentences: dict[frozenset[str], list[str]], rng: random.Random,
             most: int = 3, least_overlap: float = 0.5) -> list[str]:
    """Pseudo-captions for an uncaptioned photo: sentences (grouped by the classes they name)
    that name only classes in its bag (at COUNT_SCORE), those naming the most of it first; at
    least `least_overlap` of the bag named."""
    present = frozenset(s.concept for s in bag if s.score >= COUNT_SCORE)
    if not present:
        return []
    scored = []
    for named, texts in sentences.items():
        if named and named <= present and len(named) / len(present) >= least_overlap:
            scored += [(len(named) / len(present), rng.random(), text) for text in texts]
    scored.sort(reverse=True)
    return [text for _, _, text in scored[:most]]


def pseudo_captions(bags: list[Bag], sentences: list[str], rng: random.Random
                    ) -> dict[int, list[str]]:
    """Each uncaptioned photo's pseudo-captions (`retrieve`), by its row; photos with none are
    left out."""
    grouped: dict[frozenset[str], list[str]] = {}
    for sentence in sentences:
        grouped.setdefault(frozenset(classes_named(sentence)), []).append(sentence)
    found = ((row, retrieve(bag, grouped, rng)) for row, bag in enumerate(bags))
    return {row: texts for row, texts in found if texts}
