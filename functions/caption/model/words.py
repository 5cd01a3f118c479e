"""Every English word list the decoding rules use, in one place, and the grammar they need
(plurals, articles). The rules (caption.model.rules) take word ids, never words; the decoding
step (caption.model.decoding) turns these lists into ids once per captioner. The evaluation
judges captions with lists of its own (caption.metrics.faults), so it does not grade these.
"""

from __future__ import annotations

# --- Whole sentences -----------------------------------------------------------------------
COLOURS = frozenset("black white red blue green yellow brown pink orange purple grey gray".split())
# Patterns, which like colours describe a noun still to come ("a red and white striped").
PATTERNS = frozenset("striped spotted checkered plaid".split())
# What a thing is made of, which like a colour describes a noun still to come ("sitting on a
# wooden": 2 of the 300 held-out COCO captions when a plate needed vouching).
MATERIALS = frozenset({"wooden"})
# Words a sentence cannot end on: articles, prepositions, conjunctions, possessives, colours.
DANGLING = frozenset(
    "a an the of in on at with and or but to for from by into onto through over under near "
    "behind between while as his her their its".split()) | COLOURS | PATTERNS | MATERIALS
# Words that describe a noun still to come: "a black and white" needs its noun before "is".
# Where grounding rules the decoder's usual noun out ("a black and white dog"), the decoder
# otherwise skips the noun and goes on with the verb: "a black and white is running" (and
# "a small brown and white haired is sitting on a wooden floor", twice in Flickr8k val).
MODIFIERS = COLOURS | PATTERNS | MATERIALS | frozenset(
    "small little large big young old tiny huge tall haired".split())
# What may not come straight after a modifier: a verb, another noun phrase's article ("a
# black and white a small brown dog", written where grounding barred the first noun), or a
# preposition ("a white plate with a red and white in the background": 3 of 300 held-out COCO
# photos' captions from a self-critical decoder, caption.train.stages.concept_reward), or the
# verb of things at rest ("a black and white sitting on a wooden floor", where a plate needed
# vouching).
NOT_AFTER_MODIFIERS = frozenset("is are a an the in on with of at by near from into under "
                                "behind sitting sits laying lays lying lies standing "
                                "stands".split())
# A class's word that is a colour far more often than the class ("orange"): never barred where
# the class is not found (caption.train.stages.grounding), nor counted as naming it in training
# (caption.train.stages.bags).
NEVER_BARRED = frozenset({"orange"})
CONJUNCTION = "and"  # "black and white and ..." runs on
# Words whose repetition is how sentences go ("in a field in a park"); a repeated phrase made of
# these alone is not a broken sentence.
FUNCTION_WORDS = DANGLING | frozenset("is are was be there".split())
# A colour may not come back within this many words ("white and white", "brown and ... brown").
COLOUR_WINDOW = 4

# --- Things that are not alive -------------------------------------------------------------
# What only living things do. Flickr8k's captions almost always have a person or a dog doing
# something, so a required object noun tends to land where the dog was: "a coffee is running
# through the water". After an object noun (and its "is"/"are"), these words are not allowed.
# "Standing" too: a lamp may stand in a corner, but "a bus is standing in the street" is the
# decoder's dog again (coco-dev's guided buses, boats and bikes).
ANIMATE_VERBS = frozenset(
    "standing stands running runs jumping jumps playing plays swimming swims walking walks "
    "riding rides climbing climbs smiling smiles dancing dances catching catches chasing "
    "chases biting bites eating eats looking looks posing poses laughing laughs sleeping "
    "sleeps wearing wears holding holds carrying carries throwing throws kicking kicks "
    "skiing skis surfing surfs skating skates biking bikes jogging jogs digging digs "
    "sniffing sniffs barking barks crawling crawls hiking hikes fighting fights pulling "
    "pulls performing performs singing sings talking talks waving waves".split())
COPULAS = frozenset({"is", "are"})  # "a bus is", between the noun and its verb
# COCO's classes that are alive: they may run, eat and look.
LIVING_CLASSES = frozenset("person bird cat dog horse sheep cow elephant bear zebra "
                           "giraffe".split())

# --- Absent animals ------------------------------------------------------------------------
# Other words for an animal the decoder writes: a ruled-out dog must not come back as a puppy.
YOUNG = {"dog": ("puppy", "puppies"), "cat": ("kitten", "kittens", "kitty"),
         "sheep": ("lamb", "lambs"), "cow": ("calf", "calves", "cattle"),
         "horse": ("pony", "ponies", "foal")}

# --- Counts --------------------------------------------------------------------------------
# The decoder learned from Flickr8k, where "two dogs are playing" is one of the commonest
# sentences, and writes it of a photo with one dog. With a detector, how many of each thing the
# photo shows is known: a number word needs some class with that many boxes (boxes counted from
# the bundle's detector.count_threshold, low, since a second dog is often scored faintly: the
# model card's tuning table has the figures). Plurals are left alone: barring "dogs" where one
# dog box was found measured worse on both coco-dev and Flickr8k val during development.
# Number words, with the boxes of one class they claim.
# Words for the photo itself rather than what it shows. The one captioner learnt "a black and
# white photo of ..." from COCO's captions of grayscale photos, and wrote it of colour photos:
# 13 of 80 coco-dev captions, every one of them false.
MEDIUM_WORDS = frozenset("photo photos picture pictures image images photograph photographs "
                         "snapshot".split())
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}

# --- Places --------------------------------------------------------------------------------
# Places no detector or word detector vouches for, which a caption would otherwise guess from
# the objects ("a kitchen" of a bathroom sink): each is written only beside a detected object
# that belongs there, and never where none does.
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

# --- Things that need a vouching object ------------------------------------------------------
# Everyday things that are no COCO class but that the one captioner writes of nearly any indoor
# photo, learnt from COCO's many sentences about food: "a white plate topped with a tree", "a
# man is sitting on a plate" (56 of the 300 held-out COCO photos' captions named a plate, with
# bundle 2026.12.07.3). Such a word is written only beside a detected object that vouches for
# it, whatever else the photo holds (caption.model.decoding).
_FOOD = ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
         "donut", "cake", "fork", "knife", "spoon")
THINGS_OF_OBJECTS = dict.fromkeys(("plate", "plates", "dish", "dishes"), _FOOD)

# --- Things named once -----------------------------------------------------------------------
# Everyday things that are no COCO class but that the one captioner names twice in one caption
# as it does COCO's ("a white plate with a plate on a table"). A thing or place is named once
# (caption.model.decoding: the COCO classes' own words come from the bundle's bag section;
# people and animals may come twice: "a black dog chases a brown dog").
THINGS_NAMED_ONCE = frozenset("plate plates desk counter shelf floor".split())

# --- What a caption is about ---------------------------------------------------------------
# Detected objects the caption is not steered to name: people (the decoder names them unasked,
# as a man, a girl, a crowd, better than "a person" would) and a table (under nearly every
# everyday scene, it would crowd out the thing on it).
NOT_GUIDING_OBJECTS = frozenset({"person", "dining table"})

# --- Who a person is ------------------------------------------------------------------------
# The words that name a person's gender (as caption.metrics.gender judges them) or age, and what
# a caption says instead where the decoder is unsure of them (caption.model.sure_person).
MALE_WORDS = frozenset("man men boy boys guy guys gentleman gentlemen he his him male father son "
                       "brother husband".split())
FEMALE_WORDS = frozenset("woman women girl girls lady ladies she her female mother daughter "
                         "sister wife".split())
CHILD_WORDS = frozenset("boy boys girl girls child children kid kids toddler baby babies".split())
ADULT_WORDS = frozenset("man men woman women lady ladies guy guys gentleman gentlemen".split())
# Without the gender: the age stays.
GENDER_NEUTRAL = {**dict.fromkeys(("man", "woman", "guy", "lady", "gentleman"), "person"),
                  **dict.fromkeys(("men", "women", "guys", "ladies", "gentlemen"), "people"),
                  **dict.fromkeys(("boy", "girl"), "child"),
                  **dict.fromkeys(("boys", "girls"), "children"),
                  **dict.fromkeys(("his", "her"), "their")}
# Without the age (and so the gender too): a person, people.
AGE_NEUTRAL = {**GENDER_NEUTRAL,
               **dict.fromkeys(("boy", "girl", "child", "kid", "toddler", "baby"), "person"),
               **dict.fromkeys(("boys", "girls", "children", "kids", "babies"), "people")}
# Words of age that go with the age ("a little girl" is not "a little person").
AGE_ADJECTIVES = frozenset("little young small".split())
# "a man and a woman" said without genders.
PERSON_ARTICLES = frozenset({"a"})
HEDGE_NEUTRAL = ("two", "people")
ANOTHER = "another"  # a second "a person": "a person standing in front of another"

# --- Grammar -------------------------------------------------------------------------------
_IRREGULAR_PLURALS = {"mouse": "mice", "sheep": "sheep", "fish": "fish", "deer": "deer",
                      "person": "people", "child": "children", "man": "men", "woman": "women",
                      "knife": "knives", "shelf": "shelves", "wolf": "wolves", "goose": "geese",
                      "buffalo": "buffalo", "moose": "moose", "hippo": "hippos",
                      "piano": "pianos", "kangaroo": "kangaroos"}
_VOWEL_SOUNDS = ("a", "e", "i", "o", "u")
_CONSONANT_SOUND_EXCEPTIONS = ("uni", "use", "euro", "one")


def plural(noun: str) -> str:
    words = noun.split()
    last = words[-1]
    if last in _IRREGULAR_PLURALS:
        last = _IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")) or last.endswith("o") and last != "zoo":
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in _VOWEL_SOUNDS:
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*words[:-1], last])


def article_for(word: str) -> str:
    starts_with_vowel = word.startswith(_VOWEL_SOUNDS)
    if word.startswith(_CONSONANT_SOUND_EXCEPTIONS):
        starts_with_vowel = False
    return "an" if starts_with_vowel else "a"
