"""A photo's bag of concepts: what the captioner is told was found in it, beside its regions.

The bag is the detector's classes (caption.model.objects.Detections) at or above a floor, most
confident first, each with its best score and how many boxes reach the count threshold. The
decoder (caption.train.networks.concept_decoder) reads each as one memory slot: a concept id, a
box count (1..4+) and a confidence bucket. Training builds its bags with these same functions
(caption.train.stages.bags), so serving hands the decoder what it learned from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.objects import COCO_CLASSES, Detections

BAG_FLOOR = 0.2  # a class enters the bag at this best score (the lowest confidence bucket)
COUNT_SCORE = 0.3  # a box counts toward the class's number at this score (serving's default)
MAX_SLOTS = 12  # the bag's most confident classes; more are rare (0.1 % of Flickr8k photos)
SCORE_EDGES = (0.2, 0.3, 0.4, 0.5, 0.7)  # a slot's confidence buckets
MAX_COUNT = 4  # box counts 1, 2, 3, 4+ (0: padding)
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


def bag_arrays(bag: Bag) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One photo's bag as the decoder's start graph takes it: concepts, counts, confidence,
    each (1, K) int64, K the bag's first MAX_SLOTS slots."""
    ids = np.array([slot.ids() for slot in bag[:MAX_SLOTS]], dtype=np.int64).reshape(-1, 3)
    return ids[None, :, 0], ids[None, :, 1], ids[None, :, 2]
