"""Word <-> id mapping with the four special tokens every decoder here uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


class Vocabulary:
    def __init__(self, words: list[str]):
        missing = [s for s in SPECIALS if s not in words]
        if missing:
            raise ValueError(f"vocabulary lacks special tokens {missing}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary has duplicate words")
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.pad, self.start, self.end, self.unk = (self.ids[s] for s in SPECIALS)

    @classmethod
    def build(cls, tokenized: Iterable[list[str]], min_count: int) -> Vocabulary:
        counts = Counter(word for tokens in tokenized for word in tokens)
        kept = sorted((w for w, n in counts.items() if n >= min_count),
                      key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def ids_of(self, words: Iterable[str]) -> frozenset[int]:
        """The ids of those of `words` the vocabulary has (a rule's word list may name more)."""
        return frozenset(self.ids[w] for w in words if w in self.ids)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.start, *(self.ids.get(t, self.unk) for t in tokens), self.end]

    def decode(self, ids: Iterable[int]) -> str:
        words = []
        for i in ids:
            if i == self.end:
                break
            if i not in (self.start, self.pad):
                words.append(self.words[i])
        return " ".join(words)
