"""The sentence writer as served: everyday photos described in everyday words, from what the
photo shows.

The image decoder knows Flickr8k's world; of a kitchen it writes "a man is sitting on a sink"
or, its words barred by grounding, "a white toilet is sitting on a rock". The writer is a
language model of COCO's and Flickr8k's captions that writes from a bag of concepts
(caption.train.writer): the detector's objects and the places grounding finds. It runs where
the photo's most confident object is one the image decoder hardly ever saw named in its
training captions (fewer than `min_decoder_photos` Flickr8k photos: the model card's writer
table has the measurement), or, where nothing is detected, the classifier's guide is a word
those captions hardly used; elsewhere the image decoder, which sees the photo, writes.

Its captions name only what is in the bag: the words of every other concept are barred (a
sink is not written unless one was detected), as are colours (the writer does not see the
photo) and numbers no class's boxes reach; they must name the bag's most confident object; an
object does not do what only living things do. The searches and their rules are the image
decoder's (caption.model.search): the writer is another Decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.constraints import Constraints
from caption.model.counting import NUMBER_WORDS, Counting
from caption.model.guidance import animate_verb_ids, plural
from caption.model.search import Hypothesis, beam_search, guided_beam_search
from caption.model.sentences import COLOURS, PATTERNS
from caption.model.vocabulary import Vocabulary

# COCO's classes that are alive: they may run, eat and look.
LIVING_CLASSES = frozenset("person bird cat dog horse sheep cow elephant bear zebra "
                           "giraffe".split())
DEFAULT_MIN_DECODER_PHOTOS = 20  # a bundle's writer.min_decoder_photos overrides it
NOT_SUBJECTS = frozenset({"dining table"})
# Places no detector or word detector vouches for, which the writer would otherwise guess from
# the objects ("a kitchen" of a bathroom sink): each is written only beside a detected object
# that belongs there, and never where none does.
PLACES_OF_OBJECTS = {
    "kitchen": ("oven", "refrigerator", "microwave", "toaster"),
    "kitchens": ("oven", "refrigerator", "microwave", "toaster"),
    "bathroom": ("toilet",),
    "bathrooms": ("toilet",),
    "bedroom": ("bed",),
    "room": ("bed", "couch", "tv"),
    "living": ("couch", "tv"),
    "airport": ("airplane",),
    "runway": ("airplane",),
    "tarmac": ("airplane",),
    "tracks": ("train",),
    "track": ("train",),
    "station": ("train",),
    "sky": ("airplane", "kite", "bird"),
    "air": ("airplane", "kite", "frisbee", "bird"),
    "office": (), "restaurant": (), "store": (), "shop": (), "market": (), "building": (),
    "buildings": (), "house": (), "city": (), "town": (), "downtown": (), "desert": (),
    "zoo": (), "enclosure": (), "pasture": (), "farm": (), "stage": (), "stadium": (),
    # Indoors, a wall is behind most things; outdoors a fire hydrant is not "on a brick wall".
    **dict.fromkeys(("wall", "walls"), ("clock", "tv", "bed", "couch", "toilet", "sink",
                                         "refrigerator", "oven", "microwave")),
}
# Words that claim how many, with the boxes they need: the image decoder's numbers
# (caption.model.counting), and COCO's ways of saying more than one.
NUMBERS = {**NUMBER_WORDS, "several": 2, "pair": 2, "couple": 2, "each": 2, "both": 2,
           "many": 3, "group": 3, "bunch": 3, "herd": 3, "flock": 3, "lots": 3}


def place_words(vocabulary: Vocabulary) -> dict[int, frozenset[str]]:
    """PLACES_OF_OBJECTS by word id, for a vocabulary (the writer's, or the decoder's)."""
    return {vocabulary.ids[word]: frozenset(objects)
            for word, objects in PLACES_OF_OBJECTS.items() if word in vocabulary.ids}


def unvouched_places(places: dict[int, frozenset[str]], present) -> set[int]:
    """The place words (place_words) no object in `present` vouches for."""
    present = set(present)
    return {word for word, objects in places.items() if not present & objects}


@dataclass(frozen=True)
class WriterState:
    h: np.ndarray  # (B, hidden)
    c: np.ndarray  # (B, hidden)
    vector: np.ndarray  # (1, embed): the bag's embedding, one per image

    def select(self, rows: list[int]) -> WriterState:
        return WriterState(self.h[rows], self.c[rows], self.vector)


class OnnxWriterDecoder:
    """The writer's two graphs as a Decoder (caption.model.decoder): start from a bag, rank
    each step's candidates in NumPy (the step graph gives log-probabilities; the vocabulary is
    small enough that ranking is not where its time goes)."""

    def __init__(self, start_session, step_session):
        self.start_session = start_session
        self.step_session = step_session

    def start(self, bag: np.ndarray) -> WriterState:
        h, c, vector = self.start_session.run(None, {"bag": bag.astype(np.float32)})
        return WriterState(h, c, vector)

    def rank(self, tokens: list[int], state: WriterState, sums: list[float],
             has_word: list[int], row_bias: np.ndarray | None, constraints: Constraints,
             first: bool, k: int) -> tuple[list[list[float]], list[list[int]], WriterState]:
        log_probs, h, c = self.step_session.run(
            None, {"tokens": np.asarray(tokens, dtype=np.int64), "h": state.h, "c": state.c,
                   "vector": state.vector})
        words = constraints.first_words if first else constraints.words
        totals = np.asarray(sums, dtype=np.float32)[:, None] + log_probs + words
        if row_bias is not None:
            totals = totals + row_bias
        banks = (totals[None] + constraints.banks[:, np.asarray(has_word)]).reshape(
            constraints.banks.shape[0], -1)
        k = min(k, banks.shape[1])
        top = np.argpartition(-banks, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(-banks, top, axis=1).argsort(axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return (np.take_along_axis(banks, top, axis=1).tolist(), top.tolist(),
                WriterState(h, c, state.vector))


class Writer:
    """The bundle's `writer` section and graphs."""

    def __init__(self, decoder: OnnxWriterDecoder, section: dict):
        self.decoder = decoder
        self.vocabulary = Vocabulary(section["vocabulary"])
        self.concepts = list(section["concepts"])
        self.index = {name: i for i, name in enumerate(self.concepts)}
        self.words = {name: self.vocabulary.ids_of(words)
                      for name, words in section["concept_words"].items()}
        if set(self.words) != set(self.concepts):
            raise ValueError("concept_words does not name the same concepts as concepts")
        self.decoder_photos = {name: int(n) for name, n in
                               section.get("decoder_photos", {}).items()}
        self.min_decoder_photos = int(section.get("min_decoder_photos",
                                                  DEFAULT_MIN_DECODER_PHOTOS))
        self.any_object = bool(section.get("any_object", False))
        self.decoder_words = {word: int(n) for word, n in
                              section.get("decoder_words", {}).items()}
        # The rules below are attributes so that caption.train.tune_writer can measure each
        # without it: the places grounding finds go into the bag; the classifier's guide and
        # its animals overrule the detector (caption.model.captioner); colours are barred;
        # places need an object that belongs there, in the writer's captions and, where nothing
        # alive is detected or the caption is guided to a thing, in the decoder's.
        self.grounded_places = bool(section.get("grounded_places", True))
        self.trust_classifier = True
        # the decoder's places too, where nothing alive is detected or it is guided to a thing
        self.guards_decoder = True
        self.describing = self.vocabulary.ids_of(COLOURS | PATTERNS)
        self.places = place_words(self.vocabulary)
        self.animate_verbs = animate_verb_ids(self.vocabulary)
        self.counting = Counting(self.vocabulary, NUMBERS)

    def writes_for(self, subject: str | None) -> bool:
        """Whether the writer, not the image decoder, describes a photo whose subject is
        `subject` (None: nothing detected)."""
        return (subject is not None and subject in self.index
                and self.decoder_photos.get(subject, 0) < self.min_decoder_photos)

    def subject(self, present: list[str]) -> str | None:
        """The object a photo's caption is about, from the detected classes, most confident
        first: the first that is not a table (under nearly every everyday scene, the thing on
        it is the subject), or with `any_object`, the first the decoder hardly knows."""
        candidates = [name for name in present if name not in NOT_SUBJECTS] or present
        if self.any_object:
            return next((name for name in candidates if self.writes_for(name)),
                        candidates[0] if candidates else None)
        return candidates[0] if candidates else None

    def decoder_knows(self, noun: str) -> bool:
        """Whether the decoder's training captions used `noun` often (a classifier's guide)."""
        return self.trust_classifier and self.decoder_words.get(noun, 0) >= self.min_decoder_photos

    def writes_for_noun(self, noun: str | None) -> bool:
        """Whether the writer, not the image decoder, describes a photo the classifier guides
        to `noun` (caption.model.guidance), where no object decided: a word the writer knows
        and the decoder's training captions hardly used."""
        return (noun is not None and noun in self.vocabulary.ids
                and self.decoder_words.get(noun, 0) < self.min_decoder_photos)

    def write(self, subject: str | None, present: list[str], counts: dict[str, int],
              beam_size: int = 3, num_captions: int = 3, max_length: int = 20,
              whole: bool = True, noun: str | None = None, living: bool = False
              ) -> list[Hypothesis]:
        """Captions naming `subject` (a COCO class), or else the classifier's `noun` (living:
        whether it is an animal's), from the concepts in `present` (objects and places the
        photo shows); counts: boxes per class (numbers no class reaches are barred)."""
        shown = {name for name in present if name in self.index
                 and (self.grounded_places or not name.startswith("scene:"))}
        if subject is not None:
            shown.add(subject)
        bag = np.zeros((1, len(self.concepts)), dtype=np.float32)
        bag[0, [self.index[name] for name in shown]] = 1.0
        barred = {word for name, words in self.words.items() if name not in shown
                  for word in words}
        barred |= self.describing
        barred |= unvouched_places(self.places, shown)
        barred |= self.counting.unsupported_words(counts)
        required = (self.words[subject] if subject is not None
                    else self.vocabulary.ids_of({noun, plural(noun)})) - barred
        barred -= required
        if not required:
            return beam_search(self.decoder, bag, self.vocabulary, beam_size, num_captions,
                               max_length, frozenset(barred), whole)
        alive = subject in LIVING_CLASSES if subject is not None else living
        not_after = frozenset() if alive else self.animate_verbs
        found = guided_beam_search(self.decoder, bag, self.vocabulary, frozenset(required),
                                   beam_size, num_captions, max_length, frozenset(barred),
                                   not_after, whole)
        if not found and whole:  # no whole sentence fitted max_length: say what fits
            found = guided_beam_search(self.decoder, bag, self.vocabulary, frozenset(required),
                                       beam_size, num_captions, max_length, frozenset(barred),
                                       not_after)
        return found

