"""A photo's bag of concepts: what the detector found, as the one captioner reads it.

The decoder (caption.train.networks.concept_decoder) attends over the photo's regions and one
slot per COCO class in the bag: the class, how many boxes it has (1, 2, 3, 4 or more) and how
sure the detector was (a bucket of its best score). Training builds the same slots from cached
detections, and for sentences without photos from what they name (caption.train.stages.bags);
serving builds them here, from the detections of the photo at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.objects import COCO_CLASSES, Detections

SCORE_EDGES = (0.2, 0.3, 0.4, 0.5, 0.7)  # confidence buckets, by the detector's best score
MAX_COUNT = 4  # box counts 1, 2, 3, 4+ (0: padding)
BAG_FLOOR = 0.2  # a class enters the bag at this best score (the lowest confidence bucket)
COUNT_SCORE = 0.3  # a box counts toward the class's number at this score (serving's default)
MAX_SLOTS = 12  # the bag's most confident classes; more are rare (0.1 % of Flickr8k photos)
CONCEPT_IDS = {name: i + 1 for i, name in enumerate(COCO_CLASSES)}  # 0 is padding


def score_bucket(score: float) -> int:
    """0 below the first edge, then one bucket per edge passed."""
    return sum(score >= edge for edge in SCORE_EDGES)


@dataclass(frozen=True)
class Slot:
    concept: str  # a COCO class
    score: float  # the detector's best score for it
    count: int  # its boxes at COUNT_SCORE (at least 1)

    def ids(self) -> tuple[int, int, int]:
        return CONCEPT_IDS[self.concept], min(self.count, MAX_COUNT), score_bucket(self.score)


Bag = tuple[Slot, ...]


def photo_bag(found: Detections, floor: float = BAG_FLOOR) -> Bag:
    """Classes at or above `floor`, most confident first, with their box counts."""
    counts = found.counts({"default": COUNT_SCORE})
    return tuple(Slot(name, score, counts.get(name, 1))
                 for name, score in found.best_scores().items() if score >= floor)


BUILD_KEYS = ("concepts", "floor", "count_score", "score_edges", "max_count", "max_slots")


def bag_section(words: dict[str, list[str]] | None = None) -> dict:
    """model.json's `bag` section: how the bag the decoder was trained on is built (BUILD_KEYS),
    and `words`: per COCO class, the decoder's words that name it, which the captions may use
    only where the class is found (caption.model.decoding)."""
    return {"concepts": list(COCO_CLASSES), "floor": BAG_FLOOR, "count_score": COUNT_SCORE,
            "score_edges": list(SCORE_EDGES), "max_count": MAX_COUNT, "max_slots": MAX_SLOTS,
            "words": words or {}}


def same_build(section: dict) -> bool:
    """Whether a bundle's bag section builds bags as this code does."""
    built = bag_section()
    return all(section.get(key) == built[key] for key in BUILD_KEYS)


def bag_inputs(bag: Bag) -> dict[str, np.ndarray]:
    """One photo's bag as the decoder's start graph takes it: `concepts`, `counts` and
    `confidence`, each (1, K) int64 for its K most confident slots (K may be 0)."""
    ids = np.array([slot.ids() for slot in bag[:MAX_SLOTS]], dtype=np.int64).reshape(-1, 3)
    return {"concepts": ids[None, :, 0], "counts": ids[None, :, 1],
            "confidence": ids[None, :, 2]}
