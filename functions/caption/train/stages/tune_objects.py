"""`python -m caption.train.stages.tune_objects --model DIR [--write]`: how the detector's caption
settings were chosen, measured. Scores the bundle as it serves and with each setting changed one
at a time, on coco-dev (everyday photos, with object annotations) and Flickr8k val, by the full
inference path of `caption.metrics.evaluate` (guidance on). `--write` stores the table in model.json
(detector.tuning), from which `make gallery` writes the model card's table.

The settings live in model.json's `detector` section (caption.train.export.detector writes the
defaults); this command measures them, it does not change them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from caption.metrics.evaluate import FLICKR, evaluate
from caption.metrics.hallucination import read_objects
from caption.model.bundle import read_config, write_config
from caption.model.decoding import DecodingConfig
from caption.runtime import load_captioner
from caption.settings import Settings

COCO_DEV = Path("../shared/coco-dev")
FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "invented_scenes",
           "broken_sentences")


def variants(config: DecodingConfig) -> list[tuple[str, dict]]:
    """(what changes, the decoding settings it changes), the served settings first."""
    served = config.corroboration
    return [
        ("as served", {}),
        ("no corroboration: a person or object needs the detector's own score",
         {"corroboration": None}),
        ("corroboration from a fainter detection (0.05)",
         {"corroboration": replace(served, detector=0.05)}),
        ("the classifier's support counted three times, as without a detector",
         {"corroboration": replace(served, classifier_support=3.0)}),
        ("counts from boxes at 0.3, not 0.1", {"count_threshold": 0.3}),
        ("no count check (every peak counts)", {"count_threshold": 0.0}),
        ("no object guidance", {"guide_object_threshold": 2.0}),
        ("object guidance at 0.25, not 0.35", {"guide_object_threshold": 0.25}),
        ("object guidance beside a detected person", {"guide_objects_with_people": True}),
    ]


def measure_variants(model, changes: list[tuple[str, dict]], limit: int | None,
                     figures: tuple[str, ...], guidance: bool = True) -> list[dict]:
    """Each variant (what changes, the settings of the captioner's DecodingConfig it
    changes), scored on coco-dev (where it is here) and Flickr8k val by the full inference
    path; the served settings are put back after each. One row per variant, printed as it
    comes."""
    sets = [("val", FLICKR / "images", [FLICKR / "captions.tsv"], FLICKR / "splits/val.txt",
             None)]
    if COCO_DEV.exists():
        sets.insert(0, ("coco_dev", COCO_DEV / "images", [COCO_DEV / "captions.tsv"], None,
                        read_objects(COCO_DEV / "objects.tsv")))
    rows = []
    served = model.decoding.config
    for name, setting in changes:
        model.decoding.config = replace(served, **setting)
        row = {"variant": name}
        try:
            for label, images, captions, split, objects in sets:
                metrics, _ = evaluate(model, images, captions, split, 3, limit, guidance,
                                      objects)
                row[label] = {key: metrics[key] for key in figures}
        finally:
            model.decoding.config = served
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def measure(model, limit: int | None) -> list[dict]:
    return measure_variants(model, variants(model.decoding.config), limit, FIGURES)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.tune_objects",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--limit", type=int, default=None, help="photos per set (a quick look)")
    parser.add_argument("--write", action="store_true",
                        help="store the table in model.json's detector.tuning")
    args = parser.parse_args(argv)
    model = load_captioner(Settings.from_env(), args.model)
    if model.detector is None:
        raise SystemExit(f"{args.model} has no detector: python -m caption.train."
                         f"detector_export --model {args.model}")
    rows = measure(model, args.limit)
    if args.write:
        config = read_config(args.model)
        tuning = {"variants": rows, "encoder": model.runtime["encoder"],
                  "command": "python -m caption.train.stages.tune_objects --write"}
        write_config(args.model, config.with_changes(detector={**config.detector,
                                                               "tuning": tuning}))


if __name__ == "__main__":
    main()
