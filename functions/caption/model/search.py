"""Beam search: one loop over any Decoder (caption.model.decoder) that keeps a caption's Rules
(caption.model.rules). It knows no English: which words are barred, and when, is the rules'
business, and which rules a photo's caption keeps is caption.model.decoding's.

All live hypotheses of an image advance as one batch through the decoder, and the decoder ranks
the candidates with one top-k per bank; nothing is sorted in Python. Hypotheses are ranked by
their mean log-probability per word (the `<end>` token counts as a word), so long captions are
not penalised merely for being long.

A RequireOneOf rule makes it the guided search (Anderson et al., EMNLP 2017, constrained beam
search): the caption must contain one of a set of required words. Bank 0 grows captions that
still lack the word, bank 1 those that have it, reached from bank 1 by any word or from bank 0
by a required word, and bank 1's captions are returned when there are any, unless (given a
margin: Banks.best) bank 0's best is the more probable by more than it. Without one, the same
loop runs one bank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caption.model.constraints import Constraints, bias
from caption.model.decoder import Decoder
from caption.model.rules import History, RowRule, Rules
from caption.model.vocabulary import Vocabulary


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated ids, without <start>, with <end> when finished
    log_prob: float  # sum over tokens

    @property
    def mean_log_prob(self) -> float:
        return self.log_prob / max(len(self.tokens), 1)

    @property
    def score(self) -> float:
        """Geometric mean of the per-word probabilities: 0..1, comparable across lengths."""
        return math.exp(self.mean_log_prob)


def finish(finished: list[Hypothesis], num_captions: int) -> list[Hypothesis]:
    """Best first by mean log-probability per word, each distinct caption once."""
    finished = sorted(finished, key=lambda h: h.mean_log_prob, reverse=True)
    unique: dict[tuple[int, ...], Hypothesis] = {}
    for hypothesis in finished:
        unique.setdefault(hypothesis.tokens, hypothesis)
    return list(unique.values())[:num_captions]


def _row_bias(rules: list[RowRule], histories: list[History], step: int, size: int
              ) -> np.ndarray | None:
    """(rows, V) additive mask of every row rule's bars, or None where no row has any."""
    barred = [set() for _ in histories]
    for rule in rules:
        for row, words in enumerate(rule.bars(histories, step)):
            barred[row] |= words
    if not any(barred):
        return None
    out = np.zeros((len(histories), size), dtype=np.float32)
    for row, words in enumerate(barred):
        if words:
            out[row, sorted(words)] = -np.inf
    return out


def constraints_of(rules: Rules, vocab: Vocabulary) -> Constraints:
    """The word rules as the decoder's masks, with the vocabulary's own tokens (padding, start,
    unknown) never written. Without a required word, one bank. With one, two banks: a row
    lacking the word stays in bank 0 by any other word or moves to bank 1 by a required one;
    a row that has it stays in bank 1 by any word and never goes back."""
    size = len(vocab)
    banned = {vocab.pad, vocab.start, vocab.unk, *rules.banned}
    required = rules.required
    if not required:
        return Constraints.build(size, banned, vocab.end)
    lacking = np.stack([bias(required, size), np.full(size, -np.inf, dtype=np.float32)])
    having = np.stack([bias(set(range(size)) - set(required), size),
                       np.zeros(size, dtype=np.float32)])
    return Constraints.build(size, banned, vocab.end, np.stack([lacking, having]))


@dataclass(frozen=True)
class Banks:
    """A search's finished captions: with a required word, those that have it and those that
    lack it (the best captions the search found without it, at no extra cost); without one,
    every caption is `having`."""

    having: list[Hypothesis]
    lacking: list[Hypothesis]

    def best(self, num_captions: int, margin: float | None = None) -> tuple[list[Hypothesis], bool]:
        """Up to `num_captions` captions, best first, and whether they have the required word:
        those that have it, unless none could be formed or (given `margin`) the best caption
        without it is more probable per word than the best with it by more than `margin`
        (natural log): the decoder would have to bend the sentence around the word. Then those
        without it come first, and those with it after them where too few ended (the search
        stops when the beam's worth with the word have ended)."""
        if self.having and self.lacking and margin is not None and (
                max(h.mean_log_prob for h in self.lacking)
                - max(h.mean_log_prob for h in self.having) > margin):
            return (finish(self.lacking, num_captions)
                    + finish(self.having, num_captions))[:num_captions], False
        if self.having:
            return finish(self.having, num_captions), True
        return finish(self.lacking, num_captions), False


def search(decoder: Decoder, features, vocab: Vocabulary, rules: Rules, beam_size: int = 3,
           num_captions: int = 3, max_length: int = 20, start=None) -> list[Hypothesis]:
    """features: (1, R, F) for one image (or what the decoder's start takes). Returns up to
    `num_captions` captions that keep `rules`, best first: with a required word, those that
    contain it, or where none could be formed within `max_length`, the best without it.
    start: decoder.start(features), where the caller has it already (states are not changed
    by a search, so one serves several)."""
    return search_banks(decoder, features, vocab, rules, beam_size, max_length,
                        start).best(num_captions)[0]


def search_banks(decoder: Decoder, features, vocab: Vocabulary, rules: Rules,
                 beam_size: int = 3, max_length: int = 20, start=None) -> Banks:
    """The search itself (see search): every finished caption, by bank."""
    constraints = constraints_of(rules, vocab)
    row_rules = rules.row_rules
    state = decoder.start(features) if start is None else start
    size = len(vocab)
    last = constraints.banks.shape[0] - 1
    tokens, sums, banks_of_rows = [vocab.start], [0.0], [0]
    histories: list[tuple[int, ...]] = [()]
    done: list[list[Hypothesis]] = [[] for _ in range(last + 1)]
    for step in range(max_length):
        row_bias = _row_bias(row_rules, histories, step, size) if row_rules else None
        # Twice the beam: enough to refill it even if half the best candidates just ended.
        # The first step may not end the caption: an empty caption describes nothing.
        top_sums, top_index, state = decoder.rank(tokens, state, sums, banks_of_rows, row_bias,
                                                  constraints, step == 0, 2 * beam_size)
        rows, words, new_sums, new_banks = [], [], [], []
        for bank, (bank_sums, bank_index) in enumerate(zip(top_sums, top_index, strict=True)):
            kept = 0
            for total, index in zip(bank_sums, bank_index, strict=True):
                if total == -math.inf:
                    break  # ruled-out words: the rest are impossible too
                if beam_size == 1 and kept == 1:
                    break  # at beam 1 the search is exactly greedy: no ending below the best word
                row, word = divmod(index, size)
                if word == vocab.end:
                    # Every ending among the 2 x beam best candidates is kept as a finished
                    # caption, not only those that would have made the beam: on Flickr8k val
                    # this scored BLEU-4 20.83 against 20.51, at beam 3.
                    done[bank].append(Hypothesis((*histories[row], word), total))
                elif kept < beam_size:
                    rows.append(row)
                    words.append(word)
                    new_sums.append(total)
                    new_banks.append(bank)
                    kept += 1
        if len(done[last]) >= beam_size or not rows:
            break
        histories = [(*histories[r], w) for r, w in zip(rows, words, strict=True)]
        state = state.select(rows)
        tokens, sums, banks_of_rows = words, new_sums, new_banks
    else:
        # Out of length: the live beams still count, as captions cut at max_length.
        for history, total, bank in zip(histories, sums, banks_of_rows, strict=True):
            done[bank].append(Hypothesis(history, total))
    return Banks(done[last], done[0] if last else [])


def beam_search(decoder: Decoder, features, vocab: Vocabulary, beam_size: int = 3,
                num_captions: int = 3, max_length: int = 20) -> list[Hypothesis]:
    """The decoder's most probable captions, with no rule but the vocabulary's own (what
    training scores validation with)."""
    return search(decoder, features, vocab, Rules(), beam_size, num_captions, max_length)
