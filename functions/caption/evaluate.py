"""`python -m caption.evaluate`: score a model on a split, the way the withheld test split is
scored: best caption per image at the given beam (default 3), BLEU-1..4 and CIDEr-D.

Runs the full inference path (file -> decode -> preprocess -> encoder -> beam search), not the
training feature cache. `--write` stores the figures in the bundle's model.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from caption.images import decode_image
from caption.model.bundle import CONFIG_FILE
from caption.model.captioner import Captioner
from caption.model.loader import load_model
from caption.settings import Settings
from caption.train.datasets import load_dataset, read_split
from caption.train.scoring import score_captions

FLICKR = Path("../shared/flickr8k")


def evaluate(model: Captioner, images: Path, captions: list[Path], split: Path | None,
             beam_size: int = 3, limit: int | None = None) -> tuple[dict, dict[str, str]]:
    data = load_dataset(images, captions)
    if split is not None:
        data = data.subset(read_split(split))
    names = data.names[:limit] if limit else data.names
    predictions = {}
    started = time.perf_counter()
    for name in tqdm(names, desc="captioning", unit="image", mininterval=5):
        decoded = decode_image((images / name).read_bytes(), Settings.max_pixels)
        predictions[name] = model.caption(decoded.image, beam_size, 1)[0].text
    metrics = score_captions(predictions, data.captions)
    metrics["beam_size"] = beam_size
    metrics["seconds_per_image"] = round((time.perf_counter() - started) / len(names), 4)
    return metrics, predictions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.evaluate", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_dir)
    parser.add_argument("--images", type=Path, default=FLICKR / "images")
    parser.add_argument("--captions", type=Path, nargs="+", default=[FLICKR / "captions.tsv"])
    parser.add_argument("--split", type=Path, default=FLICKR / "splits/val.txt",
                        help="file of image names; 'all' scores every captioned image")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--predictions", type=Path, default=None,
                        help="also write image -> caption JSON here")
    parser.add_argument("--write", metavar="NAME", default=None,
                        help="store the metrics in the bundle's model.json under metrics.NAME")
    args = parser.parse_args(argv)
    split = None if str(args.split) == "all" else args.split
    metrics, predictions = evaluate(load_model(args.model), args.images, args.captions, split,
                                    args.beam_size, args.limit)
    print(json.dumps(metrics, indent=1))
    if args.predictions:
        args.predictions.write_text(json.dumps(predictions, indent=1) + "\n")
    if args.write:
        path = args.model / CONFIG_FILE
        config = json.loads(path.read_text())
        config.setdefault("metrics", {})[args.write] = metrics
        path.write_text(json.dumps(config, indent=1) + "\n")
        print(f"stored as metrics.{args.write} in {path}")


if __name__ == "__main__":
    main()
