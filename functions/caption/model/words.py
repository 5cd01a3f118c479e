"""Every English word list the decoding rules use, in one place (the COCO classes' own
words are caption.metrics.subjects'). The rules (caption.model.rules) take word ids, never
words; the decoding step (caption.model.decoding) turns these lists into ids once per captioner.
The evaluation judges captions with lists of its own (caption.metrics.faults), so it does not
grade these.
"""

from __future__ import annotations

# --- Whole sentences -----------------------------------------------------------------------
COLOURS = frozenset("black white red blue green yellow brown pink orange purple grey gray".split())
# Patterns, which like colours describe a noun still to come ("a red and white striped").
PATTERNS = frozenset("striped spotted checkered plaid".split())
# Words a sentence cannot end on: articles, prepositions, conjunctions, possessives, colours.
DANGLING = frozenset(
    "a an the of in on at with and or but to for from by into onto through over under near "
    "behind between while as his her their its".split()) | COLOURS | PATTERNS
# Words that describe a noun still to come: "a black and white" needs its noun before "is".
# Where a rule bars the decoder's usual noun ("a black and white dog"), a decoder may skip the
# noun and go on with the verb: "a black and white is running".
MODIFIERS = COLOURS | PATTERNS | frozenset(
    "small little large big young old tiny huge tall".split())
# What may not come straight after a modifier: a verb, or another noun phrase's article ("a
# black and white a small brown dog", written where a rule barred the first noun).
NOT_AFTER_MODIFIERS = frozenset("is are a an the".split())
CONJUNCTION = "and"  # "black and white and ..." runs on
# Words whose repetition is how sentences go ("in a field in a park"); a repeated phrase made of
# these alone is not a broken sentence.
FUNCTION_WORDS = DANGLING | frozenset("is are was be there".split())
# A colour may not come back within this many words ("white and white", "brown and ... brown").
COLOUR_WINDOW = 4

# --- Counts --------------------------------------------------------------------------------
# Flickr8k's "two dogs are playing" is one of its commonest sentences, and a decoder writes it
# of a photo with one dog. How many of each thing the photo shows is known from the detector's
# boxes: a number word needs some class with that many (boxes counted at the bundle's
# detector.count_threshold). Number words, with the boxes of one class they claim.
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}

# --- Places --------------------------------------------------------------------------------
# Places the detector cannot find, which a caption may guess from the objects ("a kitchen" of a
# bathroom sink): with the bundle's decoding.places_need_objects, each is written only beside a
# detected object that belongs there, and never where none does.
PLACES_OF_OBJECTS = {
    "kitchen": ("oven", "refrigerator", "microwave", "toaster"),
    "kitchens": ("oven", "refrigerator", "microwave", "toaster"),
    "bathroom": ("toilet",),
    "bathrooms": ("toilet",),
    "bedroom": ("bed",),
    "room": ("bed", "couch", "tv"),
    "living": ("couch", "tv"),
    "airport": ("airplane",),
    "runway": ("airplane",),
    "tarmac": ("airplane",),
    "tracks": ("train",),
    "track": ("train",),
    "station": ("train",),
    "sky": ("airplane", "kite", "bird"),
    "air": ("airplane", "kite", "frisbee", "bird"),
    "office": (), "restaurant": (), "store": (), "shop": (), "market": (), "building": (),
    "buildings": (), "house": (), "city": (), "town": (), "downtown": (), "desert": (),
    "zoo": (), "enclosure": (), "pasture": (), "farm": (), "stage": (), "stadium": (),
    # Indoors, a wall is behind most things; outdoors a fire hydrant is not "on a brick wall".
    **dict.fromkeys(("wall", "walls"), ("clock", "tv", "bed", "couch", "toilet", "sink",
                                         "refrigerator", "oven", "microwave")),
}
