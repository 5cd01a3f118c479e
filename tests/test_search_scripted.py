"""The searches' own paths, driven by a scripted decoder whose next-word probabilities are
written here: a guided search that cannot reach its word falls back to the best captions
without it; a search that finds no whole sentence within max_length is retried without the
whole-sentence rules by the captioner; grounding's barred words never appear."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caption.model.bundle import ModelInfo
from caption.model.captioner import Captioner
from caption.model.constraints import Constraints
from caption.model.decoding import DecodingConfig, WordIds
from caption.model.preprocess import Preprocessing
from caption.model.rules import BanWords, RequireOneOf, Rules
from caption.model.search import Banks, Hypothesis, beam_search, search, search_banks
from caption.model.vocabulary import SPECIALS, Vocabulary
from caption.model.words import COLOUR_WINDOW, NUMBER_WORDS

VOCAB = Vocabulary([*SPECIALS, "a", "cat", "dog", "sits", "on", "the", "mat", "red"])
IDS = VOCAB.ids


@dataclass(frozen=True)
class Histories:
    """The scripted decoder's state: each row's words so far."""

    rows: tuple[tuple[int, ...], ...]

    def select(self, rows: list[int]) -> Histories:
        return Histories(tuple(self.rows[r] for r in rows))


class ScriptedDecoder:
    """Next-word probabilities from `script(history) -> {word: probability}` (the rest of the
    mass spread evenly over the other words), ranked as the step graph ranks
    (caption.train.networks.ranking): each bank's totals are the row's sum, the word's
    log-probability, the never-written words, the row's own bias and the bank's bias for whether
    the row has the required word, best k per bank."""

    def __init__(self, script):
        self.script = script

    def start(self, features) -> Histories:
        return Histories(((),))

    def scripted_log_probs(self, history: tuple[int, ...]) -> np.ndarray:
        wanted = self.script(history)
        rest = (1.0 - sum(wanted.values())) / (len(VOCAB) - len(wanted))
        probabilities = np.full(len(VOCAB), rest)
        for word, p in wanted.items():
            probabilities[IDS[word]] = p
        with np.errstate(divide="ignore"):
            return np.log(probabilities)

    def rank(self, tokens, state: Histories, sums, has_word, row_bias,
             constraints: Constraints, first: bool, k: int):
        histories = [h if token == VOCAB.start else (*h, token)
                     for h, token in zip(state.rows, tokens, strict=True)]
        words = constraints.first_words if first else constraints.words
        scores = np.stack([self.scripted_log_probs(h) for h in histories]) + words
        scores += np.asarray(sums)[:, None]
        if row_bias is not None:
            scores = scores + row_bias
        out_sums, out_index = [], []
        for bank in constraints.banks:
            totals = (scores + bank[np.asarray(has_word)]).reshape(-1)
            best = np.argsort(-totals, kind="stable")[:min(k, totals.size)]
            out_sums.append(totals[best].tolist())
            out_index.append(best.tolist())
        return out_sums, out_index, Histories(tuple(histories))


def text(hypothesis) -> str:
    return VOCAB.decode(hypothesis.tokens)


def a_cat_sits(history):
    """"a cat sits on the mat", then the end, which it never writes before; "dog" never."""
    plan = ["a", "cat", "sits", "on", "the", "mat", "<end>"]
    following = plan[len(history)] if len(history) < len(plan) else "<end>"
    return {"<end>": 0.0, "dog": 0.0, following: 0.9}


def test_the_plain_search_follows_the_script():
    (best,) = beam_search(ScriptedDecoder(a_cat_sits), None, VOCAB, 3, 1, 10)
    assert text(best) == "a cat sits on the mat"
    assert best.score == math.exp(best.log_prob / len(best.tokens))


def test_a_guided_search_writes_the_required_word_where_it_can():
    def likes_red_too(history):
        return {**a_cat_sits(history), "red": 0.05}

    captions = search(ScriptedDecoder(likes_red_too), None, VOCAB,
                      Rules((RequireOneOf("red", frozenset({IDS["red"]})),)), 3, 3, 10)
    assert captions and all("red" in text(c).split() for c in captions)


def test_a_guided_search_that_cannot_reach_its_word_falls_back_to_bank_zero():
    """"dog" has no probability at all: bank 1 is never reached, and the best captions
    without it come back (the search's documented fallback) rather than nothing."""
    captions = search(ScriptedDecoder(a_cat_sits), None, VOCAB,
                      Rules((RequireOneOf("dog", frozenset({IDS["dog"]})),)), 3, 2, 10)
    assert [text(c) for c in captions][0] == "a cat sits on the mat"
    assert all("dog" not in text(c).split() for c in captions)


def bends_around_red(history):
    """"a cat sits on the mat" at 0.9 a word; "red" is reachable only at 0.05 and what follows
    it is unsure ("red" is followed by "the" or "mat", 0.3 each)."""
    if history and history[-1] == IDS["red"]:
        return {"<end>": 0.0, "dog": 0.0, "the": 0.3, "mat": 0.3}
    return {**a_cat_sits(history), "red": 0.05}


def test_the_guided_search_also_returns_its_best_captions_without_the_word():
    banks = search_banks(ScriptedDecoder(bends_around_red), None, VOCAB,
                         Rules((RequireOneOf("red", frozenset({IDS["red"]})),)), 3, 10)
    assert banks.having and all("red" in text(c).split() for c in banks.having)
    assert "a cat sits on the mat" in [text(c) for c in banks.lacking]


def test_a_guide_that_costs_the_sentence_is_dropped_at_the_margin():
    """The best caption with "red" is less probable per word than "a cat sits on the mat":
    at margin 0 the captions without it come back, and say so; with no margin, or one wider
    than the difference, the guided ones."""
    banks = search_banks(ScriptedDecoder(bends_around_red), None, VOCAB,
                         Rules((RequireOneOf("red", frozenset({IDS["red"]})),)), 3, 10)
    gap = (max(h.mean_log_prob for h in banks.lacking)
           - max(h.mean_log_prob for h in banks.having))
    assert gap > 0
    captions, guided = banks.best(2, margin=0.0)
    assert not guided and text(captions[0]) == "a cat sits on the mat"
    for margin in (None, gap + 0.01):
        captions, guided = banks.best(2, margin)
        assert guided and all("red" in text(c).split() for c in captions)


def test_a_dropped_guide_still_gives_as_many_captions_as_asked():
    """Where fewer captions without the word ended than were asked for, those with it follow
    them, best first."""
    def hypothesis(words, mean):
        tokens = tuple(IDS[w] for w in words.split()) + (VOCAB.end,)
        return Hypothesis(tokens, mean * len(tokens))

    banks = Banks(having=[hypothesis("a red cat", -2.0), hypothesis("a red mat", -1.5),
                          hypothesis("the red cat", -2.5)],
                  lacking=[hypothesis("a cat sits", -1.0)])
    captions, guided = banks.best(3, margin=0.0)
    assert not guided
    assert [text(c) for c in captions] == ["a cat sits", "a red mat", "a red cat"]


def test_a_guide_the_decoder_prefers_is_kept_at_margin_zero():
    def prefers_red(history):
        plan = ["a", "red", "cat", "sits", "<end>"]
        following = plan[len(history)] if len(history) < len(plan) else "<end>"
        return {"<end>": 0.0, "dog": 0.0, following: 0.9}

    banks = search_banks(ScriptedDecoder(prefers_red), None, VOCAB,
                         Rules((RequireOneOf("red", frozenset({IDS["red"]})),)), 3, 10)
    captions, guided = banks.best(1, margin=0.0)
    assert guided and text(captions[0]) == "a red cat sits"


def test_the_plan_says_whether_its_captions_kept_the_guide():
    """describe_features reports guided_by only where the captions name the guide."""
    from caption.model.decoding import Plan

    def plan(margin):
        return Plan(ScriptedDecoder(bends_around_red), None, VOCAB,
                    Rules((RequireOneOf("red", frozenset({IDS["red"]})),)), guided_by="red",
                    guide_margin=margin)

    kept, dropped = plan(None).captions(3, 1, 10), plan(0.0).captions(3, 1, 10)
    assert kept.guided and "red" in text(kept.said[0]).split()
    assert not dropped.guided and text(dropped.said[0]) == "a cat sits on the mat"


def test_barred_words_are_never_written():
    captions = search(ScriptedDecoder(a_cat_sits), None, VOCAB,
                      Rules((BanWords("no cat", frozenset({IDS["cat"]})),)), 3, 3, 10)
    assert captions and all("cat" not in text(c).split() for c in captions)


def test_the_captioner_retries_without_whole_sentences_when_none_fits():
    """At max_length 1 no whole sentence fits (the first word may not be the ending, and the
    last step allows nothing but the ending): the whole-sentence search returns nothing, and
    the captioner says what fits rather than nothing."""

    def starts_with_a(history):
        return {"a": 0.99}

    captioner = Captioner(None, ScriptedDecoder(starts_with_a), VOCAB, Preprocessing(),
                          ModelInfo("scripted", "0", "none"),
                          config=DecodingConfig(whole_sentences=True))
    whole = Rules(WordIds(VOCAB, NUMBER_WORDS).sentence_rules(1, COLOUR_WINDOW))
    assert search(ScriptedDecoder(starts_with_a), None, VOCAB, whole, 1, 1, 1) == []
    (caption,) = captioner.describe_features(None, None, 1, 1, 1, guidance=False).captions
    assert caption.text == "a"
