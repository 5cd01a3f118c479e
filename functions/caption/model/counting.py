"""Counts a caption may claim: "two dogs" only where the detector found two of something.

The decoder learned from Flickr8k, where "two dogs are playing" is one of the commonest
sentences, and writes it of a photo with one dog. With a detector, how many of each thing the
photo shows is known: a number word needs some class with that many boxes (boxes counted from
the bundle's detector.count_threshold, low, since a second dog is often scored faintly: the
model card's tuning table has the figures). Plurals are left alone: barring "dogs" where one
dog box was found measured worse on both coco-dev and Flickr8k val during development.
"""

from __future__ import annotations

from caption.model.vocabulary import Vocabulary

NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}


class Counting:
    """Built once per captioner from its vocabulary."""

    def __init__(self, vocabulary: Vocabulary, words: dict[str, int] = NUMBER_WORDS):
        """words: each number word with the boxes it claims (the sentence writer's list is
        longer: caption.model.writer)."""
        self.numbers = {vocabulary.ids[w]: n for w, n in words.items() if w in vocabulary.ids}

    def unsupported_words(self, counts: dict[str, int]) -> frozenset[int]:
        """Word ids of numbers no class's boxes reach. counts: boxes per class
        (caption.model.objects.Detections.counts)."""
        most = max(counts.values(), default=0)
        return frozenset(word for word, n in self.numbers.items() if n > most)
