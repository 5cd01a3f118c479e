"""The rules a search keeps, each small and named, in the manner of transformers'
LogitsProcessorList: built once from word ids (caption.model.decoding turns the word lists of
caption.model.words and the photo's evidence into them), then asked at every step which words
each row may not write next. The search (caption.model.search) is only the loop; it knows no
English and no rule by name.

Two kinds of rule:
- **Word rules**, the same at every step: `BanWords` (never written) and `RequireOneOf` (the
  caption must contain one of these). The decoder's step graph applies them as masks.
- **Row rules**, which look at each row's caption so far: `NoWordAfter` (`NoWordAfterAny`
  for several contexts under one name), `NoWordTwice`,
  `NoRepeatedPhrase`, `NoRepeatWithin`, `NoEndAfter`, `EndByMaxLength`. The search adds their
  bars as a per-row mask.

Every rule has a `name` and a `why`, so a caption's rules can say why a word was not written
(`Rules.why_not`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

History = tuple[int, ...]  # one row's word ids so far, without <start>


class RowRule(Protocol):
    name: str
    why: str

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        """Per row, the words it may not write at this step (step 0 is the first word)."""


@dataclass(frozen=True)
class BanWords:
    """These words are never written."""

    name: str
    words: frozenset[int]
    why: str = ""


@dataclass(frozen=True)
class RequireOneOf:
    """The caption must contain one of these words (the guided search's constraint): a word
    banned elsewhere is allowed when it is one of these."""

    name: str
    words: frozenset[int]
    why: str = ""


@dataclass(frozen=True)
class NoWordAfter:
    """`words` may not follow a row whose last words match `context`, oldest first, each
    position a set of ids: ((noun ids), (copula ids)) matches "... bus is"."""

    name: str
    context: tuple[frozenset[int], ...]
    words: frozenset[int]
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        n = len(self.context)
        return [self.words if len(h) >= n and all(
                    word in allowed for word, allowed in zip(h[-n:], self.context, strict=True))
                else frozenset() for h in histories]


@dataclass(frozen=True)
class NoWordAfterAny:
    """One named rule of several contexts, each with the words it bars (NoWordAfter's): "no
    'and' run on" bars "and" after "and white" and an article after "white and"."""

    name: str
    parts: tuple[NoWordAfter, ...]
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        barred = [part.bars(histories, step) for part in self.parts]
        return [frozenset().union(*row) for row in zip(*barred, strict=True)]


@dataclass(frozen=True)
class NextOneOf:
    """After one of `after`, only one of `words` ("teddy" is followed by "bear"); after an
    article and one of `after`, only one of `singular` ("a teddy bear", not "a teddy bears")."""

    name: str
    after: frozenset[int]
    words: frozenset[int]
    size: int  # the vocabulary's
    singular: frozenset[int] = frozenset()
    articles: frozenset[int] = frozenset()
    why: str = ""

    @cached_property
    def _not_words(self) -> frozenset[int]:
        return frozenset(range(self.size)) - self.words

    @cached_property
    def _not_singular(self) -> frozenset[int]:
        return frozenset(range(self.size)) - self.singular

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        # The complements are worked out once, the first time a row needs one, not per step.
        out = []
        for h in histories:
            if not h or h[-1] not in self.after:
                out.append(frozenset())
            elif self.singular and len(h) > 1 and h[-2] in self.articles:
                out.append(self._not_singular)
            else:
                out.append(self._not_words)
        return out


@dataclass(frozen=True)
class NoWordTwice:
    """No word straight after itself."""

    name: str
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        return [frozenset({h[-1]}) if h else frozenset() for h in histories]


@dataclass(frozen=True)
class NoRepeatedPhrase:
    """No two-word phrase twice, unless both its words are in `allowed` ("in a ... in a")."""

    name: str
    allowed: frozenset[int]
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        out = []
        for h in histories:
            last = h[-1] if h else None
            out.append(frozenset(
                following for previous, following in zip(h, h[1:], strict=False)
                if previous == last and not {previous, following} <= self.allowed))
        return out


@dataclass(frozen=True)
class NoRepeatWithin:
    """None of `words` again within the last `window` words."""

    name: str
    words: frozenset[int]
    window: int
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        return [self.words.intersection(h[-self.window:]) for h in histories]


@dataclass(frozen=True)
class NoEndAfter:
    """The caption may not end straight after one of `words`."""

    name: str
    words: frozenset[int]
    end: int
    why: str = ""

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        ends = frozenset({self.end})
        return [ends if h and h[-1] in self.words else frozenset() for h in histories]


@dataclass(frozen=True)
class EndByMaxLength:
    """The caption ends within `max_length` words: at the last step only the ending may be
    written, and, since it may not follow one of `dangling`, none of those the step before."""

    name: str
    max_length: int
    dangling: frozenset[int]
    end: int
    size: int  # the vocabulary's
    why: str = ""
    _all_but_end: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_all_but_end", frozenset(range(self.size)) - {self.end})

    def bars(self, histories: list[History], step: int) -> list[frozenset[int]]:
        if step == self.max_length - 1:
            everything = self._all_but_end | {self.end}
            return [everything if h and h[-1] in self.dangling else self._all_but_end
                    for h in histories]
        if step == self.max_length - 2:
            return [self.dangling] * len(histories)
        return [frozenset()] * len(histories)


Rule = BanWords | RequireOneOf | RowRule  # what Rules holds


@dataclass(frozen=True)
class Rules:
    """What one search keeps: its rules, and what the search needs of them at once."""

    rules: tuple[Rule, ...] = ()

    @property
    def banned(self) -> frozenset[int]:
        """Every BanWords rule's words, less the required words."""
        out = frozenset().union(*(r.words for r in self.rules if isinstance(r, BanWords)))
        return out - self.required

    @property
    def required(self) -> frozenset[int]:
        """The words one of which the caption must contain; empty: none."""
        return frozenset().union(*(r.words for r in self.rules if isinstance(r, RequireOneOf)))

    @property
    def row_rules(self) -> list[RowRule]:
        """The rules that look at each row's caption so far."""
        return [r for r in self.rules if not isinstance(r, (BanWords, RequireOneOf))]

    def plus(self, *rules) -> Rules:
        return Rules((*self.rules, *(r for r in rules if r is not None)))

    def without_prefix(self, prefix: str) -> Rules:
        """The same rules less those whose name starts with `prefix` (the fallback drops the
        whole-sentence rules); these very rules where none does."""
        kept = tuple(r for r in self.rules if not r.name.startswith(prefix))
        return self if len(kept) == len(self.rules) else replace(self, rules=kept)

    def why_not(self, word: int, history: History = ()) -> list[str]:
        """Every rule that bars `word` after `history` (at that step), as "name: why"."""
        required = self.required
        out = []
        for rule in self.rules:
            if isinstance(rule, BanWords):
                barred = word in rule.words and word not in required
            elif isinstance(rule, RequireOneOf):
                barred = False
            else:
                barred = word in rule.bars([history], len(history))[0]
            if barred:
                out.append(f"{rule.name}: {rule.why}" if rule.why else rule.name)
        return out
