"""`python -m caption.metrics.ablations`: every decoding rule and threshold, measured with and
without, as served (beam 3), on Flickr8k val and on coco-dev, whose 80 photos are split by id
into a tuning half (A, even ids) and a reported half (B, odd ids): a choice is made on val and A,
and B says whether it carried.

    python -m caption.metrics.ablations [--write]

--write stores the table in the bundle's model.json under metrics.ablations (the model card's
rules table is rendered from it).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from caption.metrics.datasets import load_dataset
from caption.metrics.evaluate import FLICKR, evaluate
from caption.metrics.faults import faults
from caption.metrics.hallucination import hallucination, read_objects
from caption.metrics.scoring import score_captions
from caption.metrics.subjects import names_subject
from caption.model.bundle import read_config, write_config
from caption.runtime import load_captioner
from caption.settings import Settings

COCO_DEV = Path("../shared/coco-dev")
KEPT = ("bleu4", "cider_d", "chair_s", "names_subject", "sentence_faults", "invented_places",
        "broken_sentences")

# Each variant: (name, what it changes, the DecodingConfig fields it sets, guidance).
VARIANTS = (
    ("served", "every rule as the bundle serves it", {}, True),
    ("no absent classes", "a COCO class the detector did not find may be named",
     {"grounding": False}, True),
    ("no count rule", "a number word needs no boxes", {"numbers_need_boxes": False}, True),
    ("places need objects", "a place word needs a detected object that vouches for it",
     {"places_need_objects": True}, True),
    ("no whole-sentence rules", "the decoder's sentences as they come",
     {"whole_sentences": False}, True),
    ("evidence 0.2", "a class may be named from a score of 0.2 (the bag's floor)",
     {"evidence_thresholds": {"default": 0.2}}, True),
    ("evidence 0.25", "from 0.25", {"evidence_thresholds": {"default": 0.25}}, True),
    ("evidence 0.4", "from 0.4", {"evidence_thresholds": {"default": 0.4}}, True),
    ("no bag", "guidance off: no bag, only the whole-sentence rules", {}, False),
)


def figures(predictions: dict[str, str], references: dict[str, list[str]],
            objects: dict[str, set[str]] | None) -> dict:
    out = score_captions(predictions, references)
    out.update(names_subject(predictions, references))
    out.update(hallucination(predictions, references, objects))
    out.update(faults(predictions, references))
    return {key: out[key] for key in KEPT}


def measure(model, config, guidance: bool) -> dict:
    base = model.decoding.config
    model.decoding.config = config
    try:
        flickr = load_dataset(FLICKR / "images", [FLICKR / "captions.tsv"])
        _, val = evaluate(model, FLICKR / "images", [FLICKR / "captions.tsv"],
                          FLICKR / "splits/val.txt", guidance=guidance)
        objects = read_objects(COCO_DEV / "objects.tsv")
        dev_refs = load_dataset(COCO_DEV / "images", [COCO_DEV / "captions.tsv"]).captions
        _, dev = evaluate(model, COCO_DEV / "images", [COCO_DEV / "captions.tsv"], None,
                          guidance=guidance, objects=objects)
    finally:
        model.decoding.config = base
    halves = {half: {name: text for name, text in dev.items()
                     if int(Path(name).stem) % 2 == parity}
              for half, parity in (("coco_dev_a", 0), ("coco_dev_b", 1))}
    return {"val": figures(val, {n: flickr.captions[n] for n in val}, None),
            **{half: figures(found, dev_refs, objects) for half, found in halves.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.metrics.ablations",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_dir)
    parser.add_argument("--only", nargs="*", default=None, help="variant names to measure")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    model = load_captioner(Settings.from_env(), args.model)
    table = {}
    for name, what, changes, guidance in VARIANTS:
        if args.only and name not in args.only:
            continue
        config = replace(model.decoding.config, **changes)
        table[name] = {"what": what, **measure(model, config, guidance)}
        print(json.dumps({name: table[name]}), flush=True)
    if args.write:
        bundle = read_config(args.model)
        write_config(args.model, bundle.with_changes(
            metrics={**bundle.metrics, "ablations": table}))


if __name__ == "__main__":
    main()
