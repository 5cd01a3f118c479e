"""What the encoder's ImageNet classifier says is in a photo, in words people use.

The published EfficientNet-Lite weights end in a 1,000-class ImageNet classifier over the same
pooled features the decoder attends to, so naming the photo's subject costs one small matrix
product, made inside the encoder graph (caption.model.encoder). The bundle's `labels` section
supplies the class names, an everyday noun per class (every dog breed is a "dog") and which
nouns may steer a caption (see `caption.model.guidance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Label:
    name: str  # the ImageNet class, e.g. "Egyptian Mau"
    noun: str  # the word people use, e.g. "cat"
    score: float  # the classifier's probability for this class, 0..1


@dataclass(frozen=True)
class LabelModel:
    """The bundle's `labels` section: names for the classifier's classes (whose probabilities
    the encoder graph computes, caption.model.encoder)."""

    classes: list[str]
    nouns: list[str]
    guide_nouns: frozenset[str]
    proxies: dict[str, str]  # guide noun the decoder cannot spell -> word it writes instead
    animal_nouns: frozenset[str] = frozenset()  # nouns of the 398 animal classes
    # Each noun once, and each class's position in that list: noun_scores sums classes per
    # noun with one array operation instead of a Python loop over the 1,000 classes.
    distinct_nouns: list[str] = field(init=False, repr=False)
    _noun_of_class: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if len(self.classes) != len(self.nouns):
            raise ValueError("labels: class names and nouns differ in number")
        position = {noun: i for i, noun in enumerate(dict.fromkeys(self.nouns))}
        object.__setattr__(self, "distinct_nouns", list(position))
        object.__setattr__(self, "_noun_of_class",
                           np.array([position[n] for n in self.nouns], dtype=np.intp))

    @classmethod
    def from_bundle(cls, section: dict) -> LabelModel:
        nouns = list(section["nouns"])
        return cls(list(section["classes"]), nouns, frozenset(section.get("guide_nouns", ())),
                   dict(section.get("proxies", {})),
                   frozenset(nouns[:section.get("animal_classes", 0)]))

    def top(self, probabilities: np.ndarray, limit: int, threshold: float) -> list[Label]:
        """The image's most likely classes (one image's row of probabilities), at most
        `limit`, each at least `threshold`."""
        if limit <= 0:
            return []
        index = np.argsort(-probabilities, kind="stable")[:limit]
        return [Label(self.classes[i], self.nouns[i], round(s, 4))
                for i, s in zip(index.tolist(), probabilities[index].tolist(), strict=True)
                if s >= threshold]

    def noun_scores(self, probabilities: np.ndarray) -> dict[str, float]:
        """Per noun, the summed probability of its classes: 40 % Beagle and 30 % Basset Hound
        make a 70 % dog."""
        sums = np.bincount(self._noun_of_class, weights=probabilities.astype(np.float64),
                           minlength=len(self.distinct_nouns))
        return dict(zip(self.distinct_nouns, sums.tolist(), strict=True))
