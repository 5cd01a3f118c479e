"""What makes a caption a whole sentence: the words it may not end on, and the phrases it may
not repeat. The searches can keep to it (caption.model.search, `whole_sentences`), and the
evaluation counts the captions that do not (caption.train.hallucination)."""

from __future__ import annotations

COLOURS = frozenset("black white red blue green yellow brown pink orange purple grey gray".split())
# Patterns, which like colours describe a noun still to come ("a red and white striped").
PATTERNS = frozenset("striped spotted checkered plaid".split())
# Words a sentence cannot end on: articles, prepositions, conjunctions, possessives, colours.
DANGLING = frozenset(
    "a an the of in on at with and or but to for from by into onto through over under near "
    "behind between while as his her their its".split()) | COLOURS | PATTERNS
# Words that describe a noun still to come: "a black and white" needs its noun before "is".
# Where grounding rules the decoder's usual noun out ("a black and white dog"), the decoder
# otherwise skips the noun and goes on with the verb: "a black and white is running".
MODIFIERS = COLOURS | PATTERNS | frozenset(
    "small little large big young old tiny huge tall".split())
# What may not come straight after a modifier: a verb, or another noun phrase's article ("a
# black and white a small brown dog", written where grounding barred the first noun).
NOT_AFTER_MODIFIERS = frozenset("is are a an the".split())
# Words whose repetition is how sentences go ("in a field in a park"); a repeated phrase made of
# these alone is not a broken sentence.
FUNCTION_WORDS = DANGLING | frozenset("is are was be there".split())
