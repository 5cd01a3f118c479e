"""What a photo's ImageNet labels are, in words people use.

The labels head (`labels` graph) reads the regions the detector's backbone gives (the same the
decoder attends over) and scores ImageNet's 1,000 classes; it was distilled from the published
EfficientNet-Lite1 classifier (caption.train.stages.label_head), which no longer runs. The
bundle's `labels` section supplies the class names and an everyday noun per class (every dog
breed is a "dog").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Label:
    name: str  # the ImageNet class, e.g. "Egyptian Mau"
    noun: str  # the word people use, e.g. "cat"
    score: float  # the classifier's probability for this class, 0..1


class LabelHead:
    """The `labels` graph: regions (N, R, C) -> probabilities (N, classes)."""

    def __init__(self, session):
        self.session = session

    def __call__(self, regions: np.ndarray) -> np.ndarray:
        return self.session.run(["probabilities"], {"regions": regions})[0]


@dataclass(frozen=True)
class LabelModel:
    """The bundle's `labels` section: names for the labels head's classes."""

    classes: list[str]
    nouns: list[str]

    def __post_init__(self):
        if len(self.classes) != len(self.nouns):
            raise ValueError("labels: class names and nouns differ in number")

    @classmethod
    def from_bundle(cls, section: dict) -> LabelModel:
        return cls(list(section["classes"]), list(section["nouns"]))

    def top(self, probabilities: np.ndarray, limit: int, threshold: float) -> list[Label]:
        """The image's most likely classes (one image's row of probabilities), at most
        `limit`, each at least `threshold`."""
        if limit <= 0:
            return []
        index = np.argsort(-probabilities, kind="stable")[:limit]
        return [Label(self.classes[i], self.nouns[i], round(s, 4))
                for i, s in zip(index.tolist(), probabilities[index].tolist(), strict=True)
                if s >= threshold]
