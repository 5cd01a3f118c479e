"""`python -m caption.train.stages.tune_guidance`: choose how confident the classifier must be
before a caption is steered to name its label, by measurement, and store it in the bundle.

Measured as the bundle serves (caption.metrics.evaluate's full inference path, with grounding, the
detector and whole sentences, as model.json and the settings have them),
so it runs after every other stage of `make train`. Each candidate is scored on Flickr8k val:
BLEU-4, CIDEr-D and "names the subject". Two thresholds are chosen, one after the other:

- `guide_threshold`, for nouns the decoder writes itself: the lowest (most guidance) whose
  Flickr8k val BLEU-4 and CIDEr-D stay within 0.3 of the unguided captions' (the same
  tolerance the project allows a speed-up), so guidance does not cost the in-domain quality it
  was not built for, and whose val CHAIR-s (captions that name an object the photo does not
  hold) stays at most 8 %, the project's bar for Flickr8k: more guidance names more subjects
  and also invents more (measured: 0.3 scored 9.0 % where 0.4 scored 8.0 %);
- `guide_threshold_novel`, for nouns the decoder writes through a proxy (zebra written where it
  plans "horse": caption.model.guidance), which the unguided decoder never names: by the same
  rule, with guide_threshold at its chosen value.

The out-of-domain set (coco-dev) is reported beside each, never tuned on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from caption.model.bundle import CONFIG_FILE, read_config, write_config
from caption.runtime import load_captioner
from caption.settings import Settings
from caption.train.stages.tune_objects import measure_variants

THRESHOLDS = (0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
NOVEL_THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4)
TOLERANCE = 0.3
MAX_CHAIR_S = 8.0  # % of val captions naming an absent object: the project's Flickr8k bar
FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "invented_places", "guided_images")


def score(model, changes: dict | None, limit: int | None) -> dict:
    """The captions with the decoding settings changed (None: unguided), on Flickr8k val and,
    where it is here, coco-dev (tune_objects' loop), as labels.guide_tuning stores a row."""
    guidance = changes is not None
    name = (", ".join(f"{key} {value}" for key, value in changes.items()) if guidance
            else "unguided")
    (measured,) = measure_variants(model, [(name, changes or {})], limit, FIGURES, guidance)
    row: dict = {**(changes or {}), "guidance": guidance, "flickr8k_val": measured["val"]}
    if "coco_dev" in measured:
        row["coco_dev"] = measured["coco_dev"]
    return row


def lowest_within(rows: list[dict], unguided: dict, key: str, fallback: float) -> float:
    """The lowest `key` among rows whose Flickr8k val BLEU-4 and CIDEr-D are within TOLERANCE
    of the unguided captions' and whose val CHAIR-s is at most MAX_CHAIR_S."""
    base = unguided["flickr8k_val"]
    safe = [row[key] for row in rows
            if row["flickr8k_val"]["bleu4"] >= base["bleu4"] - TOLERANCE
            and row["flickr8k_val"]["cider_d"] >= base["cider_d"] - TOLERANCE
            and row["flickr8k_val"]["chair_s"] <= MAX_CHAIR_S]
    return min(safe, default=fallback)


def tune(model, thresholds: tuple[float, ...], novel_thresholds: tuple[float, ...],
         limit: int | None = None) -> dict:
    unguided = score(model, None, limit)
    # Nouns through a proxy keep the bundle's own threshold while the main one is measured.
    rows = [score(model, {"guide_threshold": t}, limit) for t in thresholds]
    chosen = lowest_within(rows, unguided, "guide_threshold", max(thresholds))
    novel_rows = [score(model, {"guide_threshold": chosen, "novel_threshold": t}, limit)
                  for t in novel_thresholds]
    novel = lowest_within(novel_rows, unguided, "novel_threshold", max(novel_thresholds))
    return {"chosen": chosen, "chosen_novel": novel,
            "rule": f"lowest threshold whose Flickr8k val BLEU-4 and CIDEr-D are within "
                    f"{TOLERANCE} of the unguided ones and whose val CHAIR-s is at most "
                    f"{MAX_CHAIR_S} %, measured as the bundle serves",
            "command": "python -m caption.train.stages.tune_guidance --write",
            "encoder": model.runtime.get("encoder", ""),
            "unguided": unguided, "table": rows, "novel_table": novel_rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.tune_guidance",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--novel-thresholds", type=float, nargs="+",
                        default=list(NOVEL_THRESHOLDS))
    parser.add_argument("--limit", type=int, default=None, help="photos per set (a quick look)")
    parser.add_argument("--write", action="store_true",
                        help="store the chosen thresholds and the table in the bundle")
    args = parser.parse_args(argv)
    model = load_captioner(Settings.from_env(), args.model)
    result = tune(model, tuple(args.thresholds), tuple(args.novel_thresholds), args.limit)
    print(json.dumps({"chosen": result["chosen"], "chosen_novel": result["chosen_novel"]}))
    if args.write:
        config = read_config(args.model)
        labels = {**config.labels, "guide_threshold": result["chosen"],
                  "guide_threshold_novel": result["chosen_novel"], "guide_tuning": result}
        write_config(args.model, config.with_changes(labels=labels))
        print(f"stored labels.guide_threshold = {result['chosen']} and "
              f"labels.guide_threshold_novel = {result['chosen_novel']} in "
              f"{args.model / CONFIG_FILE}")


if __name__ == "__main__":
    main()
