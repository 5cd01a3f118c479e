"""What the encoder's ImageNet classifier says is in a photo, in words people use.

The published EfficientNet-Lite weights end in a 1,000-class ImageNet classifier over the same
pooled features the decoder attends to, so naming the photo's subject costs one small matrix
product. The bundle's `labels` section supplies the class names, an everyday noun per class
(every dog breed is a "dog") and which nouns may steer a caption (see `caption.model.guidance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Label:
    name: str  # the ImageNet class, e.g. "Egyptian Mau"
    noun: str  # the word people use, e.g. "cat"
    score: float  # the classifier's probability for this class, 0..1


@dataclass(frozen=True)
class LabelModel:
    weight: torch.Tensor  # (classes, features)
    bias: torch.Tensor  # (classes,)
    classes: list[str]
    nouns: list[str]
    guide_nouns: frozenset[str]
    proxies: dict[str, str]  # guide noun the decoder cannot spell -> word it writes instead
    animal_nouns: frozenset[str] = frozenset()  # nouns of the 398 animal classes
    # Each noun once, and each class's position in that list: noun_scores sums classes per
    # noun with one tensor operation instead of a Python loop over the 1,000 classes.
    distinct_nouns: list[str] = field(init=False, repr=False)
    _noun_of_class: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self):
        position = {noun: i for i, noun in enumerate(dict.fromkeys(self.nouns))}
        object.__setattr__(self, "distinct_nouns", list(position))
        object.__setattr__(self, "_noun_of_class",
                           torch.tensor([position[n] for n in self.nouns], dtype=torch.long))

    @classmethod
    def from_bundle(cls, section: dict, weight: torch.Tensor, bias: torch.Tensor) -> LabelModel:
        classes, nouns = list(section["classes"]), list(section["nouns"])
        if not len(classes) == len(nouns) == weight.shape[0] == bias.shape[0]:
            raise ValueError("labels: class names, nouns and classifier rows differ in number")
        return cls(weight, bias, classes, nouns, frozenset(section.get("guide_nouns", ())),
                   dict(section.get("proxies", {})),
                   frozenset(nouns[:section.get("animal_classes", 0)]))

    def probabilities(self, regions: torch.Tensor) -> torch.Tensor:
        """regions: (N, R, features), the encoder output the decoder reads -> (N, classes)."""
        return torch.softmax(F.linear(regions.mean(dim=1), self.weight, self.bias), dim=-1)

    def top(self, probabilities: torch.Tensor, limit: int, threshold: float) -> list[Label]:
        """The image's most likely classes (one image's row), at most `limit`, each at least
        `threshold`."""
        if limit <= 0:
            return []
        scores, index = probabilities.topk(min(limit, probabilities.numel()))
        return [Label(self.classes[i], self.nouns[i], round(s, 4))
                for s, i in zip(scores.tolist(), index.tolist(), strict=True) if s >= threshold]

    def noun_scores(self, probabilities: torch.Tensor) -> dict[str, float]:
        """Per noun, the summed probability of its classes: 40 % Beagle and 30 % Basset Hound
        make a 70 % dog."""
        sums = torch.zeros(len(self.distinct_nouns), dtype=torch.float64)
        sums.index_add_(0, self._noun_of_class, probabilities.detach().cpu().double())
        return dict(zip(self.distinct_nouns, sums.tolist(), strict=True))
