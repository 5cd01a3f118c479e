"""The reward of self-critical training on everyday photos that have no human captions.

Feng et al. (CVPR 2019, "Unsupervised Image Captioning") reward a sampled caption for naming
the concepts a detector found in the photo. Here a sample of an uncaptioned COCO photo earns:

- `named_bonus` for each COCO class it names that the detector found at COUNT_SCORE (the score
  serving counts a box at), for at most `most_named` classes: naming the photo's subject is
  what is wanted, not a list of everything found;
- minus `absent_penalty` for each COCO class it names that is not in the photo's bag at all.
  Serving bars those words (caption.model.decoding, the bag-words rule), so a decoder that
  still wants them writes around a hole; this teaches it not to want them;
- plus CIDEr-D against the photo's pseudo-captions (coco-text sentences retrieved by its bag,
  caption.train.stages.bags.retrieve), weighted by `pseudo_weight`: everyday English, not the
  Flickr8k English the other batches reward.

The bag is the detector's, with its misses and false alarms; its precision at COUNT_SCORE is
about 0.9 on coco-dev (the model card's presence table), which is why naming a found class is
rewarded and a class with no evidence at all is penalised, and nothing in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from caption.metrics.cider import CiderD
from caption.metrics.subjects import classes_named
from caption.model.bag import COUNT_SCORE, Bag
from caption.text import tokenize


@dataclass(frozen=True)
class ConceptWeights:
    """Chosen by three runs of `refine_captioner --everyday-every 3` from the same checkpoint,
    each scored as served (docs/development.md has the table): (bonus, penalty,
    pseudo-captions) (0.2, 0.5, 1.0) left coco-dev's tuning half at CIDEr-D 61.6 with 1.0 %
    sentence faults on the held-out photos; (0.5, 1.0, 0.5) taught it to name nothing rather
    than risk a miss (CIDEr-D 54.0, subject named 74 %); these reached 66.0 and 0.3 %."""

    named_bonus: float = 0.5
    absent_penalty: float = 0.3
    most_named: int = 2
    pseudo_weight: float = 0.5


def named_against_bag(text: str, bag: Bag) -> tuple[set[str], set[str]]:
    """The COCO classes `text` names that the bag holds at COUNT_SCORE (found), and those it
    names that have no slot in the bag (absent)."""
    named = classes_named(text)
    found = {slot.concept for slot in bag if slot.score >= COUNT_SCORE}
    return named & found, named - {slot.concept for slot in bag}


def concept_score(words: Sequence[str], bag: Bag, weights: ConceptWeights) -> float:
    """The bag's part of a sample's reward (see the module's docstring)."""
    found, absent = named_against_bag(" ".join(words), bag)
    return (weights.named_bonus * min(len(found), weights.most_named)
            - weights.absent_penalty * len(absent))


class ConceptReward:
    """Rewards samples of uncaptioned photos: `scores` takes (photo, words) pairs as
    CiderD.scores does, so self-critical training treats both sources alike."""

    def __init__(self, bags: dict[str, Bag], pseudo_captions: dict[str, list[str]],
                 weights: ConceptWeights = ConceptWeights()):
        self.bags, self.weights = bags, weights
        with_text = {name: [tokenize(c) for c in caps]
                     for name, caps in pseudo_captions.items() if caps}
        self._cider = CiderD(with_text) if with_text else None

    def scores(self, pairs: Iterable[tuple[str, Sequence[str]]]) -> list[float]:
        out = []
        for name, words in pairs:
            reward = concept_score(words, self.bags[name], self.weights)
            if self._cider is not None and name in self._cider:
                reward += self.weights.pseudo_weight * self._cider.score(name, words)
            out.append(reward)
        return out


def bag_figures(predictions: dict[str, str], bags: dict[str, Bag]) -> dict:
    """How captions of uncaptioned photos agree with their bags: the share (%) naming a COCO
    class with no slot in the bag, and the share naming one found at COUNT_SCORE."""
    absent = found = 0
    for name, caption in predictions.items():
        named_found, named_absent = named_against_bag(caption, bags[name])
        absent += bool(named_absent)
        found += bool(named_found)
    photos = max(len(predictions), 1)
    return {"photos": len(predictions), "names_absent_class": round(100 * absent / photos, 1),
            "names_found_class": round(100 * found / photos, 1)}
