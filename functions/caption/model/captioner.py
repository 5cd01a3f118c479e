"""A complete captioner: preprocessing, encoder, decoder, vocabulary, labels and beam search,
assembled from parts (caption.model.loader for serving, caption.train.torch_parts for the
PyTorch networks in training). NumPy in, captions out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from caption.model.bundle import ModelInfo
from caption.model.counting import Counting
from caption.model.decoder import Decoder
from caption.model.encoder import Encoded
from caption.model.grounding import Corroboration, Grounding
from caption.model.guidance import (
    animal_word_ids,
    animate_verb_ids,
    choose_guide,
    object_guide,
    object_words,
    unseen_animals,
)
from caption.model.labels import Label, LabelModel
from caption.model.objects import DetectedObject, Detections, Detector
from caption.model.preprocess import Preprocessing
from caption.model.search import beam_search, guided_beam_search
from caption.model.vocabulary import Vocabulary
from caption.model.writer import LIVING_CLASSES, Writer, place_words, unvouched_places

MAX_LABELS = 5
LABEL_THRESHOLD = 0.05  # labels below this are noise more often than not
DEFAULT_GUIDE_THRESHOLD = 0.5  # a bundle's labels.guide_threshold, measured on val, overrides it
DEFAULT_NOVEL_THRESHOLD = 0.2  # likewise labels.guide_threshold_novel (see choose_guide)
# With guidance, animals the classifier puts below this are not written. Measured (guide
# threshold 0.25): 0.03 raised coco-dev CIDEr-D 42.0 -> 43.3 and "names the subject" 70.0 -> 71.4 %
# for -0.01 BLEU-4 and -0.2 CIDEr-D on Flickr8k val; 0.01 changed nothing.
ABSENT_ANIMAL = 0.03
DEFAULT_GUIDE_OBJECT_THRESHOLD = 0.5  # a bundle's detector.guide_object_threshold overrides it
DEFAULT_COUNT_THRESHOLD = 0.3  # likewise detector.count_threshold


@dataclass(frozen=True)
class Caption:
    text: str
    score: float


@dataclass(frozen=True)
class Description:
    """Everything the model says about one image."""

    captions: list[Caption]  # best first
    labels: list[Label] = field(default_factory=list)  # most probable first
    guided_by: str | None = None  # the noun the captions were steered to name, if any
    objects: list[DetectedObject] = field(default_factory=list)  # best first
    written: bool = False  # by the sentence writer (caption.model.writer), not the decoder


class Captioner:
    def __init__(self, encoder, decoder: Decoder, vocabulary: Vocabulary,
                 preprocess: Preprocessing, info: ModelInfo, labels: LabelModel | None = None,
                 guide_threshold: float = DEFAULT_GUIDE_THRESHOLD,
                 novel_threshold: float = DEFAULT_NOVEL_THRESHOLD,
                 runtime: dict[str, str] | None = None, whole_sentences: bool = True,
                 grounding: Grounding | None = None, detector: Detector | None = None,
                 evidence_thresholds: dict[str, float] | None = None,
                 guide_object_threshold: float = DEFAULT_GUIDE_OBJECT_THRESHOLD,
                 corroboration: Corroboration | None = None,
                 count_threshold: float = DEFAULT_COUNT_THRESHOLD,
                 guide_objects_with_people: bool = False, writer: Writer | None = None):
        """encoder: (N, 3, S, S) float32 pixels -> Encoded (caption.model.encoder).
        runtime: what runs each part, as /healthz and the init log report it.
        whole_sentences: the searches keep every caption a whole sentence
        (caption.model.search.whole_sentences).
        grounding: bars the words of what the photo gives no evidence of
        (caption.model.grounding), with guidance on or off; None: nothing is barred for it.
        detector: the COCO detector (caption.model.objects): every description lists its
        objects, and, with grounding, a COCO class is named only at its evidence_thresholds
        score (by class name, else "default"), a count only with as many boxes; with
        guidance, a detected object at guide_object_threshold guides the caption where the
        classifier names nothing; corroboration: when the word
        detectors may vouch for a faint detection (caption.model.grounding); count_threshold:
        the score a box needs to count toward "two" (caption.model.counting);
        guide_objects_with_people: let a detected object guide where a person is detected too
        (measured off: see the model card); writer: the sentence writer, which describes, with
        guidance, the photos whose most confident object the decoder hardly knows
        (caption.model.writer)."""
        self.encoder = encoder
        self.decoder = decoder
        self.vocabulary = vocabulary
        self.preprocess = preprocess
        self.info = info
        self.labels = labels  # None for models without a classifier (a seed checkpoint's)
        self.guide_threshold = guide_threshold
        self.novel_threshold = novel_threshold
        self.absent_animal = ABSENT_ANIMAL
        self.runtime = runtime or {}
        self.whole_sentences = whole_sentences
        self.grounding = grounding
        self.detector = detector
        # The detector runs beside the encoder, each on its share of the threads (the loader
        # splits them): per image 40 against 43 ms one after the other, each on both of 2
        # cores (measured alternately, in one process).
        self._beside = (ThreadPoolExecutor(1, thread_name_prefix="detector")
                        if detector is not None else None)
        self.evidence_thresholds = {"default": 0.3, **(evidence_thresholds or {})}
        self.guide_object_threshold = guide_object_threshold
        self.corroboration = corroboration
        self.count_threshold = count_threshold
        self.guide_objects_with_people = guide_objects_with_people
        self.writer = writer if detector is not None else None  # it writes from detections
        self._counting = (Counting(vocabulary)
                          if grounding is not None and detector is not None else None)
        self._object_words = object_words(grounding, vocabulary, labels)
        self._animate_verbs = animate_verb_ids(vocabulary)
        self._animal_words = animal_word_ids(labels, vocabulary) if labels is not None else {}
        self._decoder_places = place_words(vocabulary) if writer is not None else {}

    def encode(self, pixels: np.ndarray) -> Encoded:
        """(N, 3, S, S) preprocessed images -> the regions the decoder's start takes and the
        classifier's probabilities."""
        return self.encoder(np.ascontiguousarray(pixels, dtype=np.float32))

    @property
    def decode_size(self) -> int:
        """The smallest side an image may be decoded down to: the larger of the two inputs."""
        return max(self.preprocess.size, self.detector.input_size if self.detector else 0)

    def describe_features(self, regions: np.ndarray, probabilities: np.ndarray | None = None,
                          beam_size: int = 3, num_captions: int = 3, max_length: int = 20,
                          guidance: bool = True, max_labels: int = MAX_LABELS,
                          detections: Detections | None = None) -> Description:
        """regions: one image's encoder output, (1, R, C); probabilities: its (classes,);
        detections: the detector's on the same image (objects are not listed here: see
        describe, which knows the image's size)."""
        labels: list[Label] = []
        guide = None
        banned: frozenset[int] = frozenset()
        scores = None
        if self.labels is not None and probabilities is not None:
            labels = self.labels.top(probabilities, max_labels, LABEL_THRESHOLD)
            if guidance or self.grounding is not None:
                scores = self.labels.noun_scores(probabilities)  # once, for every use below
            if guidance:
                guide = choose_guide(self.labels, scores, self.vocabulary,
                                     self.guide_threshold, self.novel_threshold)
                banned = unseen_animals(self._animal_words, scores, self.absent_animal)
        best = detections.best_scores() if detections is not None else None
        counts = (detections.counts({"default": self.count_threshold})
                  if detections is not None else None)
        shown: frozenset[str] = frozenset()
        if self.grounding is not None:
            shown = self.grounding.shown(regions, scores, best, self.evidence_thresholds,
                                         self.corroboration)
            banned |= self.grounding.words_not_shown(shown)
            if self._counting is not None and counts is not None:
                banned |= self._counting.unsupported_words(counts)
        # The writer names its subject as guidance names the guide: off with guidance, which
        # leaves the decoder its own words.
        writing = guidance and self.writer is not None and best is not None
        present = self._present(best, shown) if writing else []
        if writing:
            written = self._write(present, shown, counts, guide, scores, beam_size,
                                  num_captions, max_length)
            if written is not None:
                return replace(written, labels=labels)
        if guidance and guide is None and best:
            guide = self._object_guide(best)
        inanimate = guide is not None and (self.labels is None
                                           or guide.noun not in self.labels.animal_nouns)
        if writing and self.writer.guards_decoder and (
                inanimate or not set(present) & LIVING_CLASSES):
            # Nothing alive to jump "in the air" or stand "in front of a building", or a
            # caption about a thing ("a sink is sitting in the air in a room"): the decoder's
            # Flickr8k places need what vouches for them, as the writer's do (coco-dev
            # invented places 7.5 -> 6.2 % for the second, val unchanged).
            banned |= unvouched_places(self._decoder_places, present)
        if guide is None:
            hypotheses = beam_search(self.decoder, regions, self.vocabulary, beam_size,
                                     num_captions, max_length, banned, self.whole_sentences)
            if not hypotheses:  # no whole sentence fitted max_length: say what fits
                hypotheses = beam_search(self.decoder, regions, self.vocabulary, beam_size,
                                         num_captions, max_length, banned)
            captions = [Caption(self.vocabulary.decode(h.tokens), round(h.score, 4))
                        for h in hypotheses]
            return Description(captions, labels, None)
        # Searched even when the best caption already names the noun: the constrained search
        # keeps twice the beams, and on Flickr8k val that scored higher than keeping the
        # unconstrained captions (BLEU-4 22.08 against 21.89 at threshold 0.5).
        not_after = self._animate_verbs if inanimate else frozenset()
        hypotheses = guided_beam_search(
            self.decoder, regions, self.vocabulary, guide.tokens, beam_size, num_captions,
            max_length, banned, not_after, self.whole_sentences)
        if not hypotheses:  # no whole sentence fitted max_length: say what fits
            hypotheses = guided_beam_search(
                self.decoder, regions, self.vocabulary, guide.tokens, beam_size, num_captions,
                max_length, banned, not_after)
        captions = [Caption(guide.render(h.tokens, self.vocabulary), round(h.score, 4))
                    for h in hypotheses]
        return Description(captions, labels, guide.noun)

    def _present(self, best: dict[str, float], shown: frozenset[str]) -> list[str]:
        """The COCO classes the photo shows: detected at their evidence threshold, most
        confident first (best: Detections.best_scores), then what grounding finds without a
        box (the classifier's espresso is a cup)."""
        detected = [name for name, score in best.items()
                    if score >= self.evidence_thresholds.get(
                        name, self.evidence_thresholds["default"])]
        return detected + sorted(name for name in shown
                                 if name not in detected and not name.startswith("scene:"))

    def _write(self, present: list[str], shown: frozenset[str], counts: dict[str, int], guide,
               scores: dict[str, float] | None, beam_size: int, num_captions: int,
               max_length: int) -> Description | None:
        """The writer's description, where the photo's most confident object, or else the
        classifier's guide, is one the decoder hardly knows (caption.model.writer); None where
        the decoder describes it: also where the classifier's guide is a word the decoder knows
        well, or the classifier rules out the animal the detector found (on Flickr8k val the
        detector takes running dogs for sheep, bears and cats; the model card's writer table).
        counts: boxes per class (Detections.counts), for the numbers the caption may claim."""
        subject = self.writer.subject(present)
        if guide is not None and self.writer.decoder_knows(guide.noun):
            return None
        if (subject is not None and scores is not None and self.writer.trust_classifier
                and subject in self.labels.animal_nouns
                and scores.get(subject, 0.0) < self.absent_animal):
            return None
        noun = None
        if not self.writer.writes_for(subject):
            if subject is not None or guide is None or not self.writer.writes_for_noun(
                    guide.noun):
                return None
            subject, noun = None, guide.noun
        living = self.labels is not None and noun in self.labels.animal_nouns
        hypotheses = self.writer.write(subject, [*present, *shown], counts, beam_size,
                                       num_captions, max_length, self.whole_sentences, noun,
                                       living)
        vocabulary = self.writer.vocabulary
        return Description([Caption(vocabulary.decode(h.tokens), round(h.score, 4))
                            for h in hypotheses], [], subject or noun, written=True)

    def _object_guide(self, best: dict[str, float]):
        """The detected object to name where the classifier names nothing; none beside a
        detected person, whom the caption is about (the model card's tuning table: guiding
        there invented more on Flickr8k val)."""
        person = self.evidence_thresholds.get("person", self.evidence_thresholds["default"])
        if not self.guide_objects_with_people and best.get("person", 0.0) >= person:
            return None
        return object_guide(self._object_words, best, self.guide_object_threshold,
                            self.vocabulary)

    def describe(self, images: list[Image.Image], beam_size: int = 3, num_captions: int = 3,
                 max_length: int = 20, guidance: bool = True, max_labels: int = MAX_LABELS,
                 sizes: list[tuple[int, int]] | None = None,
                 object_threshold: float | None = None) -> list[Description]:
        """Several images: one encoder batch, then per image the detector and one search.
        sizes: each image's upright original (width, height), which object boxes are given in
        (default: the image's own size); object_threshold: the score an object needs to be
        listed (default: the bundle's)."""
        if not images:
            return []
        found = (self._beside.submit(lambda: [self.detector.detect(image) for image in images])
                 if self._beside is not None else None)
        encoded = self.encode(np.stack([self.preprocess(image) for image in images]))
        probabilities = encoded.probabilities
        detected = found.result() if found is not None else [None] * len(images)
        sizes = sizes or [image.size for image in images]
        out = []
        for i, detections in enumerate(detected):
            description = self.describe_features(
                encoded.regions[i:i + 1], None if probabilities is None else probabilities[i],
                beam_size, num_captions, max_length, guidance, max_labels, detections)
            if detections is not None:
                threshold = (self.detector.score_threshold if object_threshold is None
                             else object_threshold)
                description = replace(description,
                                      objects=detections.objects(*sizes[i], threshold))
            out.append(description)
        return out

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20, guidance: bool = False) -> list[Caption]:
        return self.describe([image], beam_size, num_captions, max_length, guidance,
                             max_labels=0)[0].captions
