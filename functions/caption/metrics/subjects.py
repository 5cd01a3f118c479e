""""Names the subject": does the best caption name what the people who described the photo named?

The object classes are COCO's 80 (Lin et al., 2014), each with the words people use for it
(person: man, woman, boy, people, ...). An image's subjects are the classes that at least 3 of its
5 human captions name; the caption names the subject if it names any of them. Images whose
captions agree on no class are left out of the share (their count is reported beside it).
"""

from __future__ import annotations

from caption.text import normalize

_WORDS = {
    "person": "person persons people man men woman women boy boys girl girls child children kid "
              "kids player players guy guys lady ladies baby babies skier skiers surfer surfers "
              "skateboarder skateboarders snowboarder snowboarders rider riders crowd family "
              "couple worker workers chef adult adults toddler toddlers teenager teenagers "
              "someone gentleman soldier soldiers",
    "bicycle": "bicycle bicycles bike bikes cyclist cyclists",
    "car": "car cars taxi taxis suv sedan",
    "motorcycle": "motorcycle motorcycles motorbike motorbikes moped mopeds scooter scooters",
    "airplane": "airplane airplanes plane planes jet jets aircraft airliner airliners",
    "bus": "bus buses busses",
    "train": "train trains locomotive tram trams",
    "truck": "truck trucks pickup",
    "boat": "boat boats ship ships sailboat sailboats kayak kayaks canoe canoes yacht yachts",
    "traffic light": "traffic_light traffic_lights stoplight stoplights stop_light",
    "fire hydrant": "hydrant hydrants",
    "stop sign": "stop_sign stop_signs",
    "parking meter": "parking_meter parking_meters meter meters",
    "bench": "bench benches",
    "bird": "bird birds duck ducks seagull seagulls pigeon pigeons goose geese parrot parrots "
            "swan swans owl owls eagle eagles chicken chickens",
    "cat": "cat cats kitten kittens kitty",
    "dog": "dog dogs puppy puppies",
    "horse": "horse horses pony ponies foal",
    "sheep": "sheep lamb lambs ram rams",
    "cow": "cow cows cattle bull bulls calf calves ox oxen",
    "elephant": "elephant elephants",
    "bear": "bear bears",
    "zebra": "zebra zebras",
    "giraffe": "giraffe giraffes",
    "backpack": "backpack backpacks",
    "umbrella": "umbrella umbrellas parasol parasols",
    "handbag": "handbag handbags purse purses",
    "tie": "tie ties necktie",
    "suitcase": "suitcase suitcases luggage",
    "frisbee": "frisbee frisbees",
    "skis": "ski skis",
    "snowboard": "snowboard snowboards",
    "sports ball": "ball balls soccer football",
    "kite": "kite kites",
    "baseball bat": "bat bats",
    "baseball glove": "glove gloves mitt",
    "skateboard": "skateboard skateboards",
    "surfboard": "surfboard surfboards",
    "tennis racket": "racket rackets racquet racquets",
    "bottle": "bottle bottles",
    "wine glass": "wine_glass wine_glasses",
    "cup": "cup cups mug mugs",
    "fork": "fork forks",
    "knife": "knife knives",
    "spoon": "spoon spoons",
    "bowl": "bowl bowls",
    "banana": "banana bananas",
    "apple": "apple apples",
    "sandwich": "sandwich sandwiches",
    "orange": "orange oranges",
    "broccoli": "broccoli",
    "carrot": "carrot carrots",
    "hot dog": "hot_dog hot_dogs hotdog hotdogs",
    "pizza": "pizza pizzas",
    "donut": "donut donuts doughnut doughnuts",
    "cake": "cake cakes",
    "chair": "chair chairs",
    "couch": "couch couches sofa sofas",
    "potted plant": "plant plants",
    "bed": "bed beds",
    "dining table": "table tables",
    "toilet": "toilet toilets",
    "tv": "tv tvs television televisions",
    "laptop": "laptop laptops",
    "mouse": "mouse",
    "remote": "remote remotes",
    "keyboard": "keyboard keyboards",
    "cell phone": "phone phones cellphone cellphones",
    "microwave": "microwave microwaves",
    "oven": "oven ovens",
    "toaster": "toaster toasters",
    "sink": "sink sinks",
    "refrigerator": "refrigerator refrigerators fridge fridges",
    "book": "book books",
    "clock": "clock clocks",
    "vase": "vase vases",
    "scissors": "scissors",
    "teddy bear": "teddy teddy_bear teddy_bears",
    "hair drier": "hair_drier hair_dryer hairdryer",
    "toothbrush": "toothbrush toothbrushes",
}
# Phrases are written with "_" above; matched as the words they join.
CLASS_WORDS = {cls: [w.replace("_", " ") for w in words.split()] for cls, words in _WORDS.items()}

AGREEING_REFERENCES = 3


# Every phrase, longest first, so that "hot dog" is read before "dog" could be.
_PHRASES = sorted(((tuple(w.split()), cls) for cls, words in CLASS_WORDS.items() for w in words),
                  key=lambda item: -len(item[0]))
_LONGEST = max(len(words) for words, _ in _PHRASES)
_BY_WORDS = {words: cls for words, cls in reversed(_PHRASES)}


def mentions(text: str) -> list[str]:
    """The classes a text names, one per mention, in order. Whole phrases win over the words in
    them: "a hot dog" mentions a hot dog and no dog, "a stop sign" no other sign."""
    tokens = normalize(text).split()
    found, i = [], 0
    while i < len(tokens):
        for length in range(min(_LONGEST, len(tokens) - i), 0, -1):
            cls = _BY_WORDS.get(tuple(tokens[i:i + length]))
            if cls is not None:
                found.append(cls)
                i += length
                break
        else:
            i += 1
    return found


def classes_named(text: str) -> set[str]:
    return set(mentions(text))


def subjects(references: list[str]) -> set[str]:
    """The classes that at least 3 of the references name."""
    counts: dict[str, int] = {}
    for reference in references:
        for cls in classes_named(reference):
            counts[cls] = counts.get(cls, 0) + 1
    return {cls for cls, n in counts.items() if n >= AGREEING_REFERENCES}


def names_subject(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Share (%) of images with agreed subjects whose caption names one of them."""
    judged = hits = 0
    for image, caption in predictions.items():
        wanted = subjects(references[image])
        if not wanted:
            continue
        judged += 1
        hits += bool(wanted & classes_named(caption))
    return {"names_subject": round(100 * hits / judged, 1) if judged else None,
            "images_with_subject": judged}
