"""The sentence writer as served: everyday photos described in everyday words, from what the
photo shows.

The image decoder knows Flickr8k's world; of a kitchen it writes "a man is sitting on a sink"
or, its words barred by grounding, "a white toilet is sitting on a rock". The writer is a
language model of COCO's and Flickr8k's captions that writes from a bag of concepts
(caption.train.stages.writer): the detector's objects and the places grounding finds. It runs where
the photo's most confident object is one the image decoder hardly ever saw named in its
training captions (fewer than `min_decoder_photos` Flickr8k photos: the model card's writer
table has the measurement), or, where nothing is detected, the classifier's guide is a word
those captions hardly used; elsewhere the image decoder, which sees the photo, writes.

Its captions name only what is in the bag: the words of every other concept are barred (a
sink is not written unless one was detected), as are colours (the writer does not see the
photo) and numbers no class's boxes reach; they must name the bag's most confident object; an
object does not do what only living things do. The searches are the image decoder's
(caption.model.search), and its rules are made by the same step (caption.model.decoding): the
writer is another Decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caption.model.constraints import Constraints
from caption.model.vocabulary import Vocabulary


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
    """The bundle's `writer` section and graphs: what the writer knows. Who writes a photo's
    caption, and with which rules, is caption.model.decoding's."""

    def __init__(self, decoder: OnnxWriterDecoder, section: dict):
        self.decoder = decoder
        self.vocabulary = Vocabulary(section["vocabulary"])
        self.concepts = list(section["concepts"])
        self.index = {name: i for i, name in enumerate(self.concepts)}
        self.words = {name: self.vocabulary.ids_of(words)
                      for name, words in section["concept_words"].items()}
        if set(self.words) != set(self.concepts):
            raise ValueError("concept_words does not name the same concepts as concepts")
        # How many Flickr8k training photos name each concept, and each word: what the image
        # decoder knows (caption.train.stages.writer counts them).
        self.decoder_photos = {name: int(n) for name, n in
                               section.get("decoder_photos", {}).items()}
        self.decoder_words = {word: int(n) for word, n in
                              section.get("decoder_words", {}).items()}

    def bag(self, concepts) -> np.ndarray:
        """(1, concepts) float32: 1 for each of `concepts` the writer knows."""
        out = np.zeros((1, len(self.concepts)), dtype=np.float32)
        out[0, [self.index[name] for name in concepts if name in self.index]] = 1.0
        return out
