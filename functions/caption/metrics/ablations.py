"""`python -m caption.metrics.ablations [--write]`: each of the one captioner's rules turned off
alone, scored on coco-dev and Flickr8k val as served otherwise (guidance on, beam 3), beside
the bundle as it serves. `--write` stores the figures in model.json under
metrics.rule_ablations, which the model card's rule table is made from (`make gallery`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from caption.metrics.evaluate import FLICKR, evaluate
from caption.metrics.hallucination import read_objects
from caption.model.bundle import read_config, write_config
from caption.runtime import load_captioner
from caption.settings import Settings

COCO_DEV = Path("../shared/coco-dev")
FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "sentence_faults", "invented_places",
           "wrong_gender", "wrong_age")


def _without_bag_words(decoding) -> None:
    decoding.class_words = {}


def _setting(**changes):
    """A variant that changes decoding settings (DecodingConfig fields) and nothing else."""
    def change(decoding) -> None:
        decoding.config = dataclasses.replace(decoding.config, **changes)
    return change


# Each variant: what it turns off, and how (on the captioner's Decoding).
VARIANTS = {"as served": None,
            "a COCO class the detector did not find may be named": _without_bag_words,
            "places need no vouching object": _setting(guards_decoder=False),
            "words for the photo itself allowed": _setting(no_medium_words=False),
            "a thing or place may be named twice": _setting(things_once=False),
            "a plate needs nothing to eat beside it": _setting(things_vouched=False),
            "a gender or age however unsure the decoder, or both genders":
                _setting(person_odds=None),
            "a colour however unsure the decoder": _setting(colour_min_share=None),
            "the guide noun named whatever it costs the sentence": _setting(guide_margin=None)}


def score(model, coco_dev: Path, flickr: Path) -> tuple[dict, dict[str, dict[str, str]]]:
    """The figures on coco-dev and Flickr8k val, and the captions they were made from."""
    dev, dev_captions = evaluate(model, coco_dev / "images", [coco_dev / "captions.tsv"], None,
                                 3, None, True, read_objects(coco_dev / "objects.tsv"))
    val, val_captions = evaluate(model, flickr / "images", [flickr / "captions.tsv"],
                                 flickr / "splits/val.txt", 3, None, True, None)
    return ({"coco_dev": {k: dev[k] for k in FIGURES}, "val": {k: val[k] for k in FIGURES}},
            {"coco_dev": dev_captions, "val": val_captions})


def changed(captions: dict[str, str], served: dict[str, str]) -> int:
    """How many photos' captions differ from those served: a rule the figures cannot see
    (their word lists do not hold its words) still shows here."""
    return sum(captions[name] != text for name, text in served.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.metrics.ablations",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_dir)
    parser.add_argument("--coco-dev", type=Path, default=COCO_DEV)
    parser.add_argument("--flickr", type=Path, default=FLICKR)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    results, served = {}, {}
    for name, change in VARIANTS.items():
        model = load_captioner(Settings.from_env(), args.model)
        if change is not None:
            change(model.decoding)
        figures, captions = score(model, args.coco_dev, args.flickr)
        served = served or captions  # "as served" comes first
        for part, texts in captions.items():
            figures[part]["changed_captions"] = changed(texts, served[part])
        results[name] = figures
        print(name, json.dumps(results[name]), flush=True)
    if args.write:
        config = read_config(args.model)
        write_config(args.model, config.with_changes(
            metrics={**config.metrics, "rule_ablations": results}))


if __name__ == "__main__":
    main()
