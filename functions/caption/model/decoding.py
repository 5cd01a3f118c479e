"""How a photo's caption is decoded: evidence -> bag -> one decoder -> rules, on one path.

"Why wasn't 'dog' written?" is answered here and in the bundle's model.json:

1. `DecodingConfig` holds every setting that decides what a caption may say, each read from
   model.json (or the settings, or the bag the decoder was trained with), and says where each
   came from (`DecodingConfig.origins`).
2. `Decoding.evidence` gathers what the photo shows: the detector's classes with their best
   scores and box counts, the bag the decoder reads (caption.model.bag), the labels.
3. `Decoding.plan` turns that evidence into one `Plan`: the decoder's input (the photo's
   regions and its bag) and its named rules (caption.model.rules):
   - **absent things**: a COCO class the detector did not find at its evidence threshold has
     its words banned (caption.metrics.subjects' words for it: "dog", "dogs", "puppy" ...); a
     number more than any class's boxes; a place no detected object vouches for, where the
     bundle keeps that rule;
   - **whole sentences** (caption.model.words: no ending on "a", no verb after "black and
     white", no phrase twice, ending by max_length).
4. `Plan.search` runs the search (caption.model.search) with those rules and owns the
   fallback: where no whole sentence fits max_length, the same rules without the
   whole-sentence ones.

There is one decoder and no routing: the decoder reads the bag, so nothing steers it to a noun.
`Plan.rules.why_not(word_id, history)` lists every rule that bars a word, with its evidence;
`python -m caption.explain PHOTO WORD` prints it for a photo, along the captions' own words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

from caption.model.bag import BAG_FLOOR, Bag, bag_arrays, photo_bag
from caption.model.classes import CLASS_WORDS
from caption.model.decoder import Decoder, Memory
from caption.model.labels import Label, LabelModel
from caption.model.objects import Detections
from caption.model.rules import (
    BanWords,
    EndByMaxLength,
    NoEndAfter,
    NoRepeatedPhrase,
    NoRepeatWithin,
    NoWordAfter,
    NoWordTwice,
    Rules,
)
from caption.model.search import Hypothesis, search
from caption.model.vocabulary import Vocabulary
from caption.model.words import (
    COLOUR_WINDOW,
    COLOURS,
    CONJUNCTION,
    DANGLING,
    FUNCTION_WORDS,
    MODIFIERS,
    NOT_AFTER_MODIFIERS,
    NUMBER_WORDS,
    PLACES_OF_OBJECTS,
)

MAX_LABELS = 5
LABEL_THRESHOLD = 0.05  # labels below this are noise more often than not
WHOLE_SENTENCE = "whole sentence"  # the prefix of the whole-sentence rules' names


@dataclass(frozen=True)
class DecodingConfig:
    """Every setting that decides what a caption may say. The defaults serve a bundle that
    lacks a section; `from_bundle` reads model.json and records in `origins` where each value
    came from."""

    # CAPTION_WHOLE_SENTENCES (caption.settings): keep every caption a whole sentence.
    whole_sentences: bool = True
    # CAPTION_GROUNDING (caption.settings): bar what the detector did not find (the absent
    # things above). Off: the decoder reads the same bag and may name anything.
    grounding: bool = True
    # detector.evidence_thresholds: the detector's score a COCO class needs to be named, by
    # class name, else "default".
    evidence_thresholds: dict = field(default_factory=lambda: {"default": 0.3})
    # detector.count_threshold: the score a box needs to count toward "two".
    count_threshold: float = 0.3
    # decoding.numbers_need_boxes: a number word needs as many boxes of one class.
    numbers_need_boxes: bool = True
    # decoding.places_need_objects: a place word needs a detected object that vouches for it
    # (caption.model.words.PLACES_OF_OBJECTS).
    places_need_objects: bool = False
    # The bag's floor: the score at which a class enters the bag. The decoder was trained
    # with it (caption.model.bag), so it is not a bundle setting.
    bag_floor: float = BAG_FLOOR
    origins: dict = field(default_factory=dict, compare=False)

    # Where each setting is read from: (model.json section, key).
    SOURCES = {"evidence_thresholds": ("detector", "evidence_thresholds"),
               "count_threshold": ("detector", "count_threshold"),
               "numbers_need_boxes": ("decoding", "numbers_need_boxes"),
               "places_need_objects": ("decoding", "places_need_objects")}

    @classmethod
    def from_bundle(cls, sections: dict[str, dict | None], whole_sentences: bool = True,
                    grounding: bool = True) -> DecodingConfig:
        """sections: model.json's sections by name (detector, decoding; None where the bundle
        has none)."""
        values: dict[str, Any] = {"whole_sentences": whole_sentences, "grounding": grounding}
        origins = {"whole_sentences": "settings: CAPTION_WHOLE_SENTENCES",
                   "grounding": "settings: CAPTION_GROUNDING",
                   "bag_floor": "caption.model.bag (the decoder was trained with it)"}
        defaults = cls()
        for name, (section, key) in cls.SOURCES.items():
            found = (sections.get(section) or {}).get(key)
            if found is None:
                origins[name] = "default (caption.model.decoding.DecodingConfig)"
                continue
            origins[name] = f"model.json {section}.{key}"
            if name == "evidence_thresholds":
                values[name] = {"default": defaults.evidence_thresholds["default"],
                                **{k: float(v) for k, v in found.items()}}
            else:
                values[name] = type(getattr(defaults, name))(found)
        return cls(**values, origins=origins)

    def threshold(self, name: str) -> float:
        return self.evidence_thresholds.get(name, self.evidence_thresholds["default"])

    def describe(self) -> dict[str, dict]:
        """Each setting with its value and where it came from (for `caption.explain`)."""
        def plain(value):
            return asdict(value) if is_dataclass(value) else value

        return {f.name: {"value": plain(getattr(self, f.name)),
                         "from": self.origins.get(f.name, "set in code")}
                for f in fields(self) if f.name != "origins"}


@dataclass(frozen=True)
class Evidence:
    """What one photo shows."""

    labels: list[Label]  # the labels head's top classes
    best: dict[str, float] | None  # the detector's best score per class; None: no detector
    counts: dict[str, int]  # the detector's boxes per class at count_threshold
    bag: Bag  # what the decoder is told was found
    present: list[str]  # the COCO classes a caption may name, most confident first


@dataclass(frozen=True)
class Plan:
    """One photo's decoding: the decoder's input and the rules it keeps."""

    decoder: Decoder
    features: Any  # what the decoder's start takes (a Memory, or a seed bundle's features)
    vocabulary: Vocabulary
    rules: Rules

    def search(self, beam_size: int, num_captions: int, max_length: int) -> list[Hypothesis]:
        """The captions that keep the rules; where no whole sentence fits max_length, those
        that keep the others (what fits, rather than nothing)."""
        found = search(self.decoder, self.features, self.vocabulary, self.rules, beam_size,
                       num_captions, max_length)
        if found:
            return found
        fallback = self.rules.without_prefix(WHOLE_SENTENCE)
        if fallback is self.rules:
            return found
        return search(self.decoder, self.features, self.vocabulary, fallback, beam_size,
                      num_captions, max_length)

    def render(self, tokens: tuple[int, ...]) -> str:
        return self.vocabulary.decode(tokens)


class WordIds:
    """The word lists of caption.model.words as one vocabulary's ids, worked out once."""

    def __init__(self, vocabulary: Vocabulary):
        ids = vocabulary.ids_of
        self.size = len(vocabulary)
        self.end = vocabulary.end
        self.dangling = ids(DANGLING)
        self.function = ids(FUNCTION_WORDS)
        self.modifiers = ids(MODIFIERS)
        self.not_after_modifiers = ids(NOT_AFTER_MODIFIERS)
        self.colours = ids(COLOURS)
        self.conjunction = vocabulary.ids.get(CONJUNCTION)
        self.numbers = {vocabulary.ids[w]: (w, n) for w, n in NUMBER_WORDS.items()
                        if w in vocabulary.ids}
        self.places = {vocabulary.ids[word]: (word, frozenset(objects))
                       for word, objects in PLACES_OF_OBJECTS.items() if word in vocabulary.ids}
        # Per COCO class, its single words, and its two-word phrases as (first, second) ids.
        self.classes = {name: ids(w for w in words if " " not in w)
                        for name, words in CLASS_WORDS.items()}
        self.phrases = {name: [(ids([w.split()[0]]), ids([w.split()[1]])) for w in words
                               if len(w.split()) == 2 and all(ids([p]) for p in w.split())]
                        for name, words in CLASS_WORDS.items()}
        self._sentences: dict[int, tuple] = {}

    def sentence_rules(self, max_length: int) -> tuple:
        """The whole-sentence rules, by max_length (built once for each)."""
        rules = self._sentences.get(max_length)
        if rules is None:
            name = WHOLE_SENTENCE
            rules = (
                NoEndAfter(f"{name}: no ending on a word that needs another", self.dangling,
                           self.end),
                NoWordAfter(f"{name}: no verb or article after a describing word",
                            (self.modifiers,), self.not_after_modifiers),
                *((NoWordAfter(f"{name}: no 'and' run on after 'and' and a describing word",
                               (frozenset({self.conjunction}), self.modifiers),
                               frozenset({self.conjunction})),)
                  if self.conjunction is not None else ()),
                NoRepeatWithin(f"{name}: no colour twice within {COLOUR_WINDOW} words",
                               self.colours, COLOUR_WINDOW),
                NoWordTwice(f"{name}: no word twice in a row"),
                NoRepeatedPhrase(f"{name}: no phrase with a content word twice",
                                 self.function),
                EndByMaxLength(f"{name}: the ending by max_length", max_length, self.dangling,
                               self.end, self.size))
            self._sentences[max_length] = rules
        return rules

    def absent_classes(self, best: dict[str, float], config: DecodingConfig) -> list:
        """A COCO class below its evidence threshold: its words banned, and the second word
        of its phrases after the first ("light" after "traffic")."""
        out: list = []
        for name in CLASS_WORDS:
            score, needed = best.get(name, 0.0), config.threshold(name)
            if score >= needed:
                continue
            why = f"the detector's best score {score:.3g} < {needed:.3g}"
            if self.classes[name]:
                out.append(BanWords(f"absent: {name}", self.classes[name], why))
            out += [NoWordAfter(f"absent: {name}", (first,), second, why)
                    for first, second in self.phrases[name]]
        return out

    def unvouched_places(self, present) -> list[BanWords]:
        """A place word no object in `present` vouches for ("kitchen" needs an oven, ...)."""
        present = set(present)
        return [absent(word, frozenset({word_id}), 0, 1,
                       f"detected objects that vouch for it ({', '.join(sorted(objects))})"
                       if objects else "objects that vouch for it (none can)")
                for word_id, (word, objects) in self.places.items() if not present & objects]

    def unsupported_numbers(self, counts: dict[str, int]) -> list[BanWords]:
        """A number word no class's boxes reach. counts: boxes per class
        (caption.model.objects.Detections.counts)."""
        most = max(counts.values(), default=0)
        return [absent(word, frozenset({word_id}), most, n, "boxes of one class")
                for word_id, (word, n) in self.numbers.items() if n > most]


def absent(thing: str, words: frozenset[int], evidence: float, needed: float, source: str
           ) -> BanWords:
    """The one rule for every absent thing: its words banned, with the evidence that fell
    short."""
    return BanWords(f"absent: {thing}", words,
                    f"{source} {evidence:.3g} < {needed:.3g}")


class Decoding:
    """Built once per captioner from its parts; per photo, `evidence` then `plan`."""

    def __init__(self, config: DecodingConfig, decoder: Decoder, vocabulary: Vocabulary,
                 labels: LabelModel | None = None, reads_bag: bool = True):
        """reads_bag: the decoder's start takes a photo's Memory (regions and bag); False for a
        seed bundle's decoder, which takes its encoder's features alone."""
        self.config = config
        self.decoder = decoder
        self.vocabulary = vocabulary
        self.labels = labels
        self.reads_bag = reads_bag
        self.ids = WordIds(vocabulary)

    def evidence(self, detections: Detections | None, probabilities: np.ndarray | None,
                 guidance: bool, max_labels: int) -> Evidence:
        """What one photo shows (detections: the detector's, or None without one;
        probabilities: the labels head's (classes,), or None). guidance off: the decoder is
        told nothing was found (its bag is empty) and nothing is barred for being absent."""
        config = self.config
        labels: list[Label] = []
        if self.labels is not None and probabilities is not None:
            labels = self.labels.top(probabilities, max_labels, LABEL_THRESHOLD)
        if detections is None:
            return Evidence(labels, None, {}, (), [])
        best = detections.best_scores()
        counts = detections.counts({"default": config.count_threshold})
        bag = photo_bag(detections, config.bag_floor) if guidance else ()
        present = [name for name, score in best.items() if score >= config.threshold(name)]
        return Evidence(labels, best, counts, bag, present)

    def plan(self, evidence: Evidence, regions: np.ndarray, guidance: bool, max_length: int
             ) -> Plan:
        """The decoder's input and the rules its caption keeps. regions: the photo's (1, R, C)."""
        config = self.config
        rules = Rules()
        if guidance and config.grounding and evidence.best is not None:
            rules = rules.plus(*self.ids.absent_classes(evidence.best, config))
            if config.numbers_need_boxes:
                rules = rules.plus(*self.ids.unsupported_numbers(evidence.counts))
            if config.places_need_objects:
                rules = rules.plus(*self.ids.unvouched_places(evidence.present))
        if config.whole_sentences:
            rules = rules.plus(*self.ids.sentence_rules(max_length))
        features = (Memory(np.ascontiguousarray(regions, dtype=np.float32),
                           *bag_arrays(evidence.bag)) if self.reads_bag else regions)
        return Plan(self.decoder, features, self.vocabulary, rules)
