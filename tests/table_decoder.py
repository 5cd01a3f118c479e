"""A decoder whose next-word probabilities come from a table, for the checks that read a
caption's words through the decoder (caption.model.sure_words): after "a", the table's; after
any other word, `elsewhere` for every word."""

from __future__ import annotations

import numpy as np

from caption.model.vocabulary import Vocabulary


class TableDecoder:
    def __init__(self, vocabulary: Vocabulary, after_a: dict[str, float], elsewhere: float = 0.0):
        self.vocabulary, self.after_a, self.elsewhere = vocabulary, after_a, elsewhere

    def start(self, features):
        return None

    def log_probs(self, words, state):
        ids = self.vocabulary.ids
        probabilities = np.full(len(self.vocabulary), self.elsewhere)
        if words[0] == ids["a"]:
            for word, p in self.after_a.items():
                probabilities[ids[word]] = p
        with np.errstate(divide="ignore"):
            return np.log(probabilities)[None], state
