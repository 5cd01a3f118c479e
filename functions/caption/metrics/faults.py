"""Sentence faults and invented places, judged with word lists of their own.

The decoding rules (caption.model.words, caption.model.decoding) and grounding's places
(caption.model.grounding) are what the captioner does; measuring captions with those same lists
would only count whether the rules ran. These lists are written for reading captions as a
person would, wider than the rules, and nothing in serving imports them:

- **A sentence fault** is one a person would not write:
  - it ends on a word that needs another after it ("... in the middle of a large");
  - a describing word stands where the noun belongs ("a black and white jumps in the air",
    "a small brown and white haired is standing");
  - a thing does what only people and animals do ("a brown and white coffee is standing in
    the middle of a red and white house", "a striped shirt is running through the grass").
- **An invented place** is a kind of place (sky, room, street, water, building, ...) that the
  caption puts the subject in and no reference caption of the photo mentions.
"""

from __future__ import annotations

from caption.metrics.subjects import mentions
from caption.text import normalize

# Words a sentence cannot end on: articles and other determiners, prepositions, conjunctions,
# auxiliaries, numbers, and words that describe a noun.
_DETERMINERS = frozenset("a an the this that these those his her their its my your our some "
                         "another each every two three four five several many".split())
_PREPOSITIONS = frozenset("in on at of with into onto through from by for to near under over "
                          "above below behind beside between across along around against "
                          "toward towards inside outside beneath".split())
_CONJUNCTIONS = frozenset("and or but while as".split())
_AUXILIARIES = frozenset("is are was were be being been has have".split())
_DESCRIBING = frozenset(
    "red blue green yellow orange purple pink brown black white gray grey dark light colorful "
    "striped spotted patterned plaid checkered small large big little tiny huge tall short long "
    "young old wooden metal plastic wet dry bright shiny fluffy furry hairy haired curly "
    "blond blonde bald".split())
_FUNCTION = _DETERMINERS | _PREPOSITIONS | _CONJUNCTIONS | _AUXILIARIES
# Words whose repetition is how sentences go ("in a field in a park", "a man in a red shirt
# on a red bike"): a repeated phrase of these alone is no fault.
REPEATABLE = _FUNCTION | _DESCRIBING | {"there"}

# What follows a noun phrase: where one of these comes straight after a determiner and its
# describing words, the noun is missing.
_AFTER_A_NOUN = _AUXILIARIES | _PREPOSITIONS | frozenset(
    "jumps runs plays sits stands walks swims looks holds rides".split())

# What only people and animals do, written after "is" / "are".
_LIVING_VERBS = frozenset(
    "standing running jumping playing walking swimming climbing smiling looking posing wearing "
    "holding eating dancing riding sleeping laughing chasing catching biting barking fighting "
    "hiking skating skiing surfing crawling digging sniffing waving singing".split())
# COCO's living classes, and words for a living thing that name no class; a subject that names
# a thing (another COCO class, or one of _THINGS) and no living thing is judged.
_LIVING_CLASSES = frozenset("person bird cat dog horse sheep cow elephant bear zebra "
                            "giraffe".split())
_LIVING_WORDS = frozenset("animal animals creature creatures pet pets monkey monkeys deer "
                          "goat goats pig pigs rabbit rabbits cyclist cyclists biker bikers "
                          "rider riders skier skiers surfer surfers skateboarder skateboarders "
                          "snowboarder snowboarders".split())
_THINGS = frozenset("shirt shirts pants jacket hat dress coffee food sign signs building "
                    "house wall water snow rock rocks tree trees flower flowers toy toys box "
                    "machine rocket plate paper picture".split())

# Kinds of place, each with the words people use for it.
PLACES = {
    "sky": "sky air",
    "room": "room kitchen bathroom bedroom office restaurant store shop classroom",
    "street": "street streets road roads sidewalk city town intersection",
    "building": "building buildings house houses wall walls",
    "water": "water lake river ocean sea pool pond stream creek waves wave",
    "beach": "beach sand shore",
    "grass": "grass grassy lawn field fields meadow yard",
    "snow": "snow snowy",
    "mountain": "mountain mountains hill hills cliff rocks",
    "forest": "forest woods trees",
    "park": "park playground",
    "stage": "stage",
}
_PLACE_OF = {word: place for place, words in PLACES.items() for word in words.split()}


def places_named(text: str) -> set[str]:
    return {_PLACE_OF[word] for word in normalize(text).split() if word in _PLACE_OF}


def dangling_end(words: list[str]) -> str | None:
    """Why a caption's last word needs another after it ("ends on 'of'"), or None. A
    describing word may end a sentence ("the grass is green", "a traffic light"), but not
    straight after its article ("... in the middle of a large", "a red and white")."""
    last = words[-1]
    if last in _FUNCTION:
        return f"ends on '{last}'"
    if last in _DESCRIBING:
        i = len(words) - 1
        while i > 0 and (words[i - 1] in _DESCRIBING or words[i - 1] == "and"):
            i -= 1
        if i == 0 or words[i - 1] in _DETERMINERS:
            return f"ends on '{last}'"
    return None


def fault(text: str) -> str | None:
    """What makes the caption a sentence a person would not write, or None."""
    words = normalize(text).split()
    if not words:
        return "is empty"
    if ending := dangling_end(words):
        return ending
    for i, word in enumerate(words):
        if word not in _DETERMINERS:
            continue
        j = i + 1
        while j < len(words) and (words[j] in _DESCRIBING or words[j] == "and"):
            j += 1
        if j > i + 1 and j < len(words) and words[j] in _AFTER_A_NOUN:
            return f"no noun after '{' '.join(words[i:j])}'"
    for i, word in enumerate(words[1:-1], start=1):
        if word in ("is", "are") and words[i + 1] in _LIVING_VERBS:
            subject = words[:i]
            named = set(mentions(" ".join(subject)))
            living = named & _LIVING_CLASSES or set(subject) & _LIVING_WORDS
            thing = named - _LIVING_CLASSES or set(subject) & _THINGS
            if thing and not living:
                return f"'{' '.join(subject)}' is {words[i + 1]}: only living things do that"
            break  # the main clause's subject, judged once
    return None


def faults(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Over one caption per image: the share with a sentence fault and the share that put the
    subject in a place no reference mentions, as percentages."""
    faulty = invented = 0
    for image, caption in predictions.items():
        faulty += fault(caption) is not None
        said = places_named(caption)
        invented += bool(said - set().union(*(places_named(r) for r in references[image])))
    total = max(len(predictions), 1)
    return {"sentence_faults": round(100 * faulty / total, 1),
            "invented_places": round(100 * invented / total, 1)}
