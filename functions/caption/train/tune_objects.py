"""`python -m caption.train.tune_objects --model DIR [--write]`: how the detector's caption
settings were chosen, measured. Scores the bundle as it serves and with each setting changed one
at a time, on coco-dev (everyday photos, with object annotations) and Flickr8k val, by the full
inference path of `caption.evaluate` (guidance on). `--write` stores the table in model.json
(detector.tuning), from which `make gallery` writes the model card's table.

The settings live in model.json's `detector` section (caption.train.detector_export writes the
defaults); this command measures them, it does not change them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from caption.evaluate import FLICKR, evaluate
from caption.model.bundle import read_config, write_config
from caption.model.loader import load_model
from caption.settings import inference_threads
from caption.train.hallucination import read_objects

COCO_DEV = Path("../shared/coco-dev")
FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "invented_scenes",
           "broken_sentences")


def variants(model) -> list[tuple[str, dict]]:
    """(what changes, the captioner's attributes it sets), the served settings first."""
    served = model.corroboration
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


def measure_variants(model, target, changes: list[tuple[str, dict]], limit: int | None,
                     figures: tuple[str, ...]) -> list[dict]:
    """Each variant (what changes, the attributes of `target` it sets: the captioner, or one
    of its parts), scored on coco-dev and Flickr8k val by the full inference path, guidance
    on; `target`'s attributes are put back after each. One row per variant, printed as it
    comes."""
    sets = [("coco_dev", COCO_DEV / "images", [COCO_DEV / "captions.tsv"], None,
             read_objects(COCO_DEV / "objects.tsv")),
            ("val", FLICKR / "images", [FLICKR / "captions.tsv"], FLICKR / "splits/val.txt",
             None)]
    rows = []
    for name, setting in changes:
        saved = {key: getattr(target, key) for key in setting}
        for key, value in setting.items():
            setattr(target, key, value)
        row = {"variant": name}
        for label, images, captions, split, objects in sets:
            metrics, _ = evaluate(model, images, captions, split, 3, limit, True, objects)
            row[label] = {key: metrics[key] for key in figures}
        for key, value in saved.items():
            setattr(target, key, value)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def measure(model, limit: int | None) -> list[dict]:
    return measure_variants(model, model, variants(model), limit, FIGURES)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.tune_objects",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--limit", type=int, default=None, help="photos per set (a quick look)")
    parser.add_argument("--write", action="store_true",
                        help="store the table in model.json's detector.tuning")
    args = parser.parse_args(argv)
    model = load_model(args.model, threads=inference_threads())
    if model.detector is None:
        raise SystemExit(f"{args.model} has no detector: python -m caption.train."
                         f"detector_export --model {args.model}")
    rows = measure(model, args.limit)
    if args.write:
        config = read_config(args.model)
        tuning = {"variants": rows, "encoder": model.runtime["encoder"],
                  "command": "python -m caption.train.tune_objects --write"}
        write_config(args.model, config.with_changes(detector={**config.detector,
                                                               "tuning": tuning}))


if __name__ == "__main__":
    main()
