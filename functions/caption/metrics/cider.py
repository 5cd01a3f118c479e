"""CIDEr-D against a fixed corpus, fast enough to be a per-sample training reward.

pycocoevalcap's `Cider` recomputes document frequencies from whatever it is handed, which is
right for scoring a test set but wrong (and slow) for self-critical training, where thousands of
sampled captions per batch must be scored against the training corpus. This computes the same
quantity (Vedantam et al., 2015: tf-idf n-gram vectors for n = 1..4, clipped hypothesis counts,
a Gaussian length penalty with sigma 6, times 10) with document frequencies and reference
vectors prepared once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

MAX_N = 4
SIGMA = 6.0

NGramVector = list[dict[tuple[str, ...], float]]


def _ngrams(words: Sequence[str]) -> list[Counter]:
    return [Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
            for n in range(1, MAX_N + 1)]


class CiderD:
    def __init__(self, references: dict[str, list[list[str]]]):
        """references: image -> its tokenized human captions (the document frequencies' corpus)."""
        document_frequency: Counter = Counter()
        for refs in references.values():
            document_frequency.update({gram for ref in refs for counts in _ngrams(ref)
                                       for gram in counts})
        self._df = document_frequency
        self._log_corpus = math.log(float(len(references)))
        self._refs = {image: [self._vector(ref) for ref in refs]
                      for image, refs in references.items()}

    def _vector(self, words: Sequence[str]) -> tuple[NGramVector, list[float], int]:
        vector: NGramVector = []
        norms = []
        for counts in _ngrams(words):
            weights = {g: tf * (self._log_corpus - math.log(max(1.0, self._df[g])))
                       for g, tf in counts.items()}
            vector.append(weights)
            norms.append(math.sqrt(sum(w * w for w in weights.values())))
        return vector, norms, len(words)

    def __contains__(self, image: str) -> bool:
        """Whether `image` has references to be scored against."""
        return image in self._refs

    def score(self, image: str, words: Sequence[str]) -> float:
        hyp, hyp_norms, hyp_len = self._vector(words)
        refs = self._refs[image]
        total = 0.0
        for ref, ref_norms, ref_len in refs:
            penalty = math.exp(-((hyp_len - ref_len) ** 2) / (2 * SIGMA ** 2))
            for n in range(MAX_N):
                if not hyp_norms[n] or not ref_norms[n]:
                    continue
                ref_n = ref[n]
                dot = sum(min(w, ref_n[g]) * ref_n[g] for g, w in hyp[n].items() if g in ref_n)
                total += penalty * dot / (hyp_norms[n] * ref_norms[n])
        return 10.0 * total / (MAX_N * len(refs))

    def scores(self, pairs: Iterable[tuple[str, Sequence[str]]]) -> list[float]:
        return [self.score(image, words) for image, words in pairs]
