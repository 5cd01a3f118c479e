"""Each decoding rule alone (caption.model.rules), on a vocabulary written here: what it bars,
after which words, at which step, and what it leaves alone; and Rules, which the search and
why_not read."""

from __future__ import annotations

from caption.model.rules import (
    BanWords,
    EndByMaxLength,
    NextOneOf,
    NoEndAfter,
    NoRepeatedPhrase,
    NoRepeatWithin,
    NoWordAfter,
    NoWordTwice,
    RequireOneOf,
    Rules,
)
from caption.model.vocabulary import SPECIALS, Vocabulary

VOCAB = Vocabulary([*SPECIALS, "a", "black", "and", "white", "dog", "is", "running", "in",
                    "the", "park", "clock"])
IDS = VOCAB.ids
END = VOCAB.end


def ids(*words: str) -> frozenset[int]:
    return frozenset(IDS[w] for w in words)


def history(text: str) -> tuple[int, ...]:
    return tuple(IDS[w] for w in text.split())


def barred(rule, *texts: str, step: int | None = None) -> list[set[str]]:
    """The words the rule bars after each caption so far (at step 2 of 20 unless given: only
    the ending's rule reads the step)."""
    histories = [history(t) for t in texts]
    return [{VOCAB.words[i] for i in words}
            for words in rule.bars(histories, 2 if step is None else step)]


def test_no_word_after_a_context_of_one_word_or_two():
    after_describing = NoWordAfter("n", (ids("black", "white"),), ids("is", "a"))
    assert barred(after_describing, "a black", "a black dog", "") == [{"is", "a"}, set(), set()]
    after_clock_is = NoWordAfter("n", (ids("clock"), ids("is")), ids("running"))
    assert barred(after_clock_is, "a clock is", "a dog is", "is") == [{"running"}, set(), set()]


def test_no_word_twice_in_a_row():
    assert barred(NoWordTwice("n"), "a dog", "") == [{"dog"}, set()]


def test_no_phrase_twice_unless_all_its_words_are_allowed():
    rule = NoRepeatedPhrase("n", ids("in", "the", "a"))
    # "a dog ... a" may not go on to "dog" again; "in the park in" may go on to "the".
    assert barred(rule, "a dog is in a") == [{"dog"}]
    assert barred(rule, "in the park in") == [set()]


def test_no_repeat_within_a_window():
    rule = NoRepeatWithin("n", ids("black", "white"), 4)
    assert barred(rule, "a white and") == [{"white"}]
    assert barred(rule, "a white dog is running in") == [set()]  # five words back


def test_next_one_of_forces_the_word_that_follows():
    rule = NextOneOf("n", ids("black"), ids("dog", "park"), len(VOCAB), ids("dog"), ids("a"))
    after_black, after_a_black, elsewhere = barred(rule, "in black", "a black", "a dog")
    assert after_black == set(VOCAB.words) - {"dog", "park"}
    assert after_a_black == set(VOCAB.words) - {"dog"}  # "a": singular only
    assert elsewhere == set()


def test_no_end_after():
    rule = NoEndAfter("n", ids("a", "the"), END)
    assert barred(rule, "a dog is in the", "a dog") == [{"<end>"}, set()]


def test_the_ending_by_max_length():
    rule = EndByMaxLength("n", 5, ids("a", "the"), END, len(VOCAB))
    everything = set(VOCAB.words)
    assert barred(rule, "a dog", step=2) == [set()]
    assert barred(rule, "a dog is", step=3) == [{"a", "the"}]  # the step before the last
    assert barred(rule, "a dog is in", step=4) == [everything - {"<end>"}]
    assert barred(rule, "a dog is the", step=4) == [everything]  # no ending after "the"


def test_rules_join_bans_and_requirements_and_say_why():
    rules = Rules((BanWords("absent: dog", ids("dog"), "evidence 0.01 < 0.3"),
                   BanWords("absent: park", ids("park")),
                   RequireOneOf("guidance: name the dog", ids("dog")),
                   NoWordTwice("no word twice")))
    assert rules.banned == ids("park")  # a required word is never banned
    assert rules.required == ids("dog")
    assert [r.name for r in rules.row_rules] == ["no word twice"]
    assert rules.why_not(IDS["park"]) == ["absent: park"]
    assert rules.why_not(IDS["dog"]) == []
    assert rules.why_not(IDS["a"], history("a")) == ["no word twice"]
    assert rules.why_not(IDS["clock"]) == []


def test_without_prefix_drops_only_those_rules():
    rules = Rules((BanWords("absent: dog", ids("dog")), NoWordTwice("whole: no word twice")))
    fallback = rules.without_prefix("whole")
    assert [r.name for r in fallback.rules] == ["absent: dog"]
    assert rules.without_prefix("nothing") is rules
