"""Grounded content: a caption may name a person, a dog, a bench or a place only when the photo
gives evidence of it.

The decoder learned Flickr8k's world, where three photos in four show a person, and it writes
"a man is sitting on a sink" into an empty bathroom. Three sources of evidence, each measured on
Flickr8k val and coco-dev (docs/model-card.md):

- **Word detectors** learned from captions (Fang et al., CVPR 2015, "From Captions to Visual
  Concepts and Back"): per concept (a COCO object class or a kind of place), a logistic
  classifier over the encoder's regions, trained on whether any of a Flickr8k photo's five
  captions names it (caption.train.stages.grounding). They run as the bundle's small
  `concepts` graph.
- **What people write about everyday things** (coco-text, text only): how often a COCO photo
  whose captions name a sink also names a person. Flickr8k has few photos without people, so
  its detectors cannot learn that kitchens and bathrooms are often empty; the classifier's most
  probable nouns, weighted by their probability, bring in that knowledge for the concepts where
  it measured better (people).
- **The ImageNet classifier**: a concept whose own noun the classifier finds (an "airplane" at
  59 %) counts as seen, whatever the detectors say of a class they rarely saw.

A concept whose evidence is below the bundle's threshold (its own, where it has one) is an
absent thing, its words barred as every absent thing's are (caption.model.decoding); a noun the
caption is guided to name is never barred.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from caption.model.vocabulary import Vocabulary

PLACE_PREFIX = "scene:"  # a concept that is a kind of place ("scene:water"), not an object


@dataclass(frozen=True)
class Corroboration:
    """How the other evidence counts for a COCO class where the detector runs: the word
    detectors vouch for a class the detector saw only faintly (its score at least `detector`,
    theirs at least `words`); the classifier's summed probability for the class's nouns counts
    times `classifier_support` (the grounding's own factor, without a detector)."""

    detector: float
    words: float
    classifier_support: float = 1.0


@dataclass(frozen=True)
class Concept:
    name: str  # a COCO class ("person") or a place ("scene:water")
    words: frozenset[int]  # the decoder's words that name it
    nouns: frozenset[str]  # the classifier's nouns that show it (caption.model.labels)


class Grounding:
    """The bundle's `grounding` section and `concepts` graph: which words an image supports."""

    def __init__(self, session, section: dict, vocabulary: Vocabulary):
        """session: the concepts graph, (N, R, C) regions -> (N, concepts) probabilities."""
        self.session = session
        self.classifier_support = float(section.get("classifier_support", 0.0))
        self.prior_nouns = int(section.get("prior_nouns", 0))
        self.words = {c["name"]: list(c["words"]) for c in section["concepts"]}
        self.concepts = [Concept(c["name"], vocabulary.ids_of(c["words"]),
                                 frozenset(c.get("nouns", ())))
                         for c in section["concepts"]]
        # concept index -> {classifier noun: share of COCO photos with that noun whose
        # captions name the concept}
        self.priors = {i: dict(section.get("priors", {}).get(c.name, {}))
                       for i, c in enumerate(self.concepts)
                       if c.name in section.get("priors", {})}
        outputs = [o.name for o in session.get_outputs()]
        if outputs != ["concepts"] or session.get_outputs()[0].shape[-1] != len(self.concepts):
            raise ValueError(f"the concepts graph gives {outputs}, not one probability for "
                             f"each of the {len(self.concepts)} concepts model.json lists")

    def detect(self, regions: np.ndarray) -> np.ndarray:
        """(1, R, C) regions -> (concepts,) the word detectors' probabilities."""
        (probabilities,) = self.session.run(["concepts"], {"regions": regions})
        return probabilities[0]

    def evidence(self, regions: np.ndarray, noun_scores: dict[str, float] | None,
                 objects: dict[str, float] | None = None,
                 corroboration: Corroboration | None = None) -> dict[str, float]:
        """Per concept, 0..1: how strongly the photo shows it (the three sources above).
        noun_scores: LabelModel.noun_scores of the image, or None without a classifier.
        objects: the COCO detector's best score per class (caption.model.objects), or None
        without one. Where given, a COCO class's evidence is the detector's score, or the
        classifier's support; the word detectors count only where they confirm a weak
        detection (corroboration). So a person is never named without a person detection."""
        detected = self.detect(regions).astype(np.float64)
        out = {}
        for i, concept in enumerate(self.concepts):
            value = float(detected[i])
            if noun_scores is not None:
                prior = self.priors.get(i)
                if prior:
                    value = self._with_prior(value, prior, noun_scores)
            if objects is not None and self.is_object(concept):
                value = self._object_evidence(objects.get(concept.name, 0.0), value,
                                              corroboration)
            if noun_scores is not None and concept.nouns:
                shown = sum(noun_scores.get(noun, 0.0) for noun in concept.nouns)
                factor = self.classifier_support
                if objects is not None and corroboration is not None and self.is_object(concept):
                    factor = corroboration.classifier_support
                value = max(value, min(1.0, factor * shown))
            out[concept.name] = value
        return out

    @staticmethod
    def _object_evidence(detector: float, words: float,
                         corroboration: Corroboration | None) -> float:
        """The detector's score; the word detectors' (with the prior) where they are sure and
        the detector saw the class at least faintly."""
        if (corroboration is not None and detector >= corroboration.detector
                and words >= corroboration.words):
            return max(detector, words)
        return detector

    def _with_prior(self, detected: float, prior: dict[str, float],
                    noun_scores: dict[str, float]) -> float:
        """The detector's probability, moved toward what people write about the photo's most
        probable things as far as the classifier is sure of them."""
        top = heapq.nlargest(self.prior_nouns,
                             ((noun_scores.get(noun, 0.0), noun) for noun in prior))
        sure = min(sum(score for score, _ in top), 1.0)
        return (1.0 - sure) * detected + sum(score * prior[noun] for score, noun in top)

    @staticmethod
    def is_object(concept: Concept) -> bool:
        """A COCO object class (which a detector can see), not a kind of place."""
        return not concept.name.startswith(PLACE_PREFIX)

    def needed(self, detecting: bool, object_thresholds: dict[str, float], threshold: float,
               thresholds: dict[str, float]) -> dict[str, float]:
        """The evidence each concept needs: its own in `thresholds` where it has one, else
        `threshold` (the DecodingConfig's, read from the section); where the detector counts
        (detecting), a COCO class needs its object_thresholds score (by class name, else
        "default")."""
        needed = {c.name: thresholds.get(c.name, threshold) for c in self.concepts}
        if detecting:
            needed.update({c.name: object_thresholds.get(c.name, object_thresholds["default"])
                           for c in self.concepts if self.is_object(c)})
        return needed
