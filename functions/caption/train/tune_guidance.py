"""`python -m caption.train.tune_guidance`: choose how confident the classifier must be before a
caption is steered to name its label, by measurement, and store it in the bundle.

Each data set's images are encoded once; every candidate threshold then captions them all
(beam 3, the runtime path from features on) and is scored: BLEU-4, CIDEr-D and "names the
subject". The chosen threshold is the lowest (most guidance) whose Flickr8k val BLEU-4 and
CIDEr-D stay within 0.3 of the unguided captions' (the same tolerance the project allows a
speed-up), so guidance does not cost the in-domain quality it was not built for; the
out-of-domain set (coco-dev) is reported beside it, never tuned on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from caption.images import decode_image
from caption.model.bundle import CONFIG_FILE, read_config, write_config
from caption.model.captioner import Captioner
from caption.model.encoder import Encoded
from caption.settings import Settings
from caption.train.datasets import load_dataset, read_split
from caption.train.scoring import score_captions
from caption.train.subjects import names_subject
from caption.train.torch_parts import torch_captioner
from caption.train.weights import load_torch_model

FLICKR = Path("../shared/flickr8k")
COCO_DEV = Path("../shared/coco-dev")
THRESHOLDS = (0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
TOLERANCE = 0.3


def encode_all(model: Captioner, images: Path, names: list[str]) -> list[Encoded]:
    features = []
    for start in tqdm(range(0, len(names), 8), desc=f"encoding {images.parent.name}",
                      mininterval=5):
        batch = [decode_image((images / n).read_bytes(), Settings.max_pixels,
                              model.preprocess.size).image for n in names[start:start + 8]]
        encoded = model.encode(np.stack([model.preprocess(image) for image in batch]))
        features.extend(Encoded(encoded.regions[i:i + 1], encoded.probabilities[i])
                        for i in range(len(batch)))
    return features


def score_threshold(model: Captioner, features: list[Encoded], names: list[str],
                    references: dict[str, list[str]], threshold: float | None) -> dict:
    """threshold None: unguided. Nouns the decoder cannot write keep the bundle's own
    novel threshold (see choose_guide); this tunes the threshold for the nouns it can."""
    model.guide_threshold = threshold if threshold is not None else 2.0
    predictions, guided = {}, 0
    for name, feature in zip(names, features, strict=True):
        described = model.describe_features(feature.regions, feature.probabilities, 3, 1, 20,
                                            guidance=threshold is not None, max_labels=0)
        predictions[name] = described.captions[0].text
        guided += described.guided_by is not None
    metrics = score_captions(predictions, {n: references[n] for n in names})
    return {"threshold": threshold, "guided_images": guided, "bleu4": metrics["bleu4"],
            "cider_d": metrics["cider_d"], **names_subject(predictions, references)}


def tune(model_dir: Path, thresholds: tuple[float, ...]) -> dict:
    model = torch_captioner(load_torch_model(model_dir))
    sets = {"flickr8k_val": (FLICKR / "images", FLICKR / "captions.tsv",
                             read_split(FLICKR / "splits" / "val.txt"))}
    if COCO_DEV.exists():
        data = load_dataset(COCO_DEV / "images", [COCO_DEV / "captions.tsv"])
        sets["coco_dev"] = (COCO_DEV / "images", COCO_DEV / "captions.tsv", data.names)
    table: dict[str, list[dict]] = {}
    for name, (images, captions, names) in sets.items():
        references = load_dataset(images, [captions]).captions
        features = encode_all(model, images, names)
        table[name] = [score_threshold(model, features, names, references, t)
                       for t in (None, *thresholds)]
        for row in table[name]:
            print(name, json.dumps(row), flush=True)
    unguided, *candidates = table["flickr8k_val"]
    safe = [row for row in candidates if row["bleu4"] >= unguided["bleu4"] - TOLERANCE
            and row["cider_d"] >= unguided["cider_d"] - TOLERANCE]
    chosen = min((row["threshold"] for row in safe), default=max(thresholds))
    return {"chosen": chosen, "rule": f"lowest threshold whose Flickr8k val BLEU-4 and CIDEr-D "
                                      f"are within {TOLERANCE} of the unguided ones",
            "table": table}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.tune_guidance",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--write", action="store_true",
                        help="store the chosen threshold and the table in the bundle")
    args = parser.parse_args(argv)
    result = tune(args.model, tuple(args.thresholds))
    print(json.dumps({"chosen": result["chosen"]}))
    if args.write:
        config = read_config(args.model)
        labels = {**config.labels, "guide_threshold": result["chosen"], "guide_tuning": result}
        write_config(args.model, config.with_changes(labels=labels))
        print(f"stored labels.guide_threshold = {result['chosen']} in "
              f"{args.model / CONFIG_FILE}")


if __name__ == "__main__":
    main()
