"""A complete captioner: preprocessing, encoder, decoder, vocabulary, labels and beam search,
assembled from parts (caption.model.loader for serving, caption.train.torch_parts for the
PyTorch networks in training). NumPy in, captions out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from caption.model.bundle import ModelInfo
from caption.model.decoder import Decoder
from caption.model.encoder import Encoded
from caption.model.grounding import Grounding
from caption.model.guidance import (
    animal_word_ids,
    animate_verb_ids,
    choose_guide,
    unseen_animals,
)
from caption.model.labels import Label, LabelModel
from caption.model.preprocess import Preprocessing
from caption.model.search import beam_search, guided_beam_search
from caption.model.vocabulary import Vocabulary

MAX_LABELS = 5
LABEL_THRESHOLD = 0.05  # labels below this are noise more often than not
DEFAULT_GUIDE_THRESHOLD = 0.5  # a bundle's labels.guide_threshold, measured on val, overrides it
DEFAULT_NOVEL_THRESHOLD = 0.2  # likewise labels.guide_threshold_novel (see choose_guide)
# With guidance, animals the classifier puts below this are not written. Measured (guide
# threshold 0.25): 0.03 raised coco-dev CIDEr-D 42.0 -> 43.3 and "names the subject" 70.0 -> 71.4 %
# for -0.01 BLEU-4 and -0.2 CIDEr-D on Flickr8k val; 0.01 changed nothing.
ABSENT_ANIMAL = 0.03


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


class Captioner:
    def __init__(self, encoder, decoder: Decoder, vocabulary: Vocabulary,
                 preprocess: Preprocessing, info: ModelInfo, labels: LabelModel | None = None,
                 guide_threshold: float = DEFAULT_GUIDE_THRESHOLD,
                 novel_threshold: float = DEFAULT_NOVEL_THRESHOLD,
                 runtime: dict[str, str] | None = None, whole_sentences: bool = True,
                 grounding: Grounding | None = None):
        """encoder: (N, 3, S, S) float32 pixels -> Encoded (caption.model.encoder).
        runtime: what runs each part, as /healthz and the init log report it.
        whole_sentences: the searches keep every caption a whole sentence
        (caption.model.search.whole_sentences).
        grounding: bars the words of what the photo gives no evidence of
        (caption.model.grounding), with guidance on or off; None: nothing is barred for it."""
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
        self._animate_verbs = animate_verb_ids(vocabulary)
        self._animal_words = animal_word_ids(labels, vocabulary) if labels is not None else {}

    def encode(self, pixels: np.ndarray) -> Encoded:
        """(N, 3, S, S) preprocessed images -> the regions the decoder's start takes and the
        classifier's probabilities."""
        return self.encoder(np.ascontiguousarray(pixels, dtype=np.float32))

    def describe_features(self, regions: np.ndarray, probabilities: np.ndarray | None = None,
                          beam_size: int = 3, num_captions: int = 3, max_length: int = 20,
                          guidance: bool = True, max_labels: int = MAX_LABELS) -> Description:
        """regions: one image's encoder output, (1, R, C); probabilities: its (classes,)."""
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
        if self.grounding is not None:
            banned |= self.grounding.unsupported_words(regions, scores)
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
        inanimate = guide.noun not in self.labels.animal_nouns
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

    def describe(self, images: list[Image.Image], beam_size: int = 3, num_captions: int = 3,
                 max_length: int = 20, guidance: bool = True, max_labels: int = MAX_LABELS
                 ) -> list[Description]:
        """Several images: one encoder batch, then one search per image."""
        if not images:
            return []
        encoded = self.encode(np.stack([self.preprocess(image) for image in images]))
        probabilities = encoded.probabilities
        return [self.describe_features(encoded.regions[i:i + 1],
                                       None if probabilities is None else probabilities[i],
                                       beam_size, num_captions, max_length, guidance,
                                       max_labels)
                for i in range(len(images))]

    def caption(self, image: Image.Image, beam_size: int = 3, num_captions: int = 3,
                max_length: int = 20, guidance: bool = False) -> list[Caption]:
        return self.describe([image], beam_size, num_captions, max_length, guidance,
                             max_labels=0)[0].captions
