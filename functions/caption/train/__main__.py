"""`python -m caption.train`: train a caption model and write a bundle.

Defaults train the shipped model on ../shared/flickr8k; every TrainConfig field is a flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from caption.train.stages.trainer import TrainConfig, train

FLICKR = Path("../shared/flickr8k")
# Fields whose default is None, so their type cannot be read off the default.
_OPTIONAL_TYPES = {"limit": int, "max_minutes": float}


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m caption.train", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--images", type=Path, default=FLICKR / "images")
    parser.add_argument("--captions", type=Path, nargs="+", default=[FLICKR / "captions.tsv"],
                        help="Flickr8k-style IMAGE#N<TAB>caption files or COCO captions_*.json")
    parser.add_argument("--train-split", type=Path, default=FLICKR / "splits/train.txt")
    parser.add_argument("--val-split", type=Path, default=FLICKR / "splits/val.txt")
    parser.add_argument("--no-flip", dest="flip", action="store_false",
                        help="do not train on mirrored images as well")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    skip = {"images", "captions", "train_split", "val_split", "flip", "resume"}
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = type(default) if default is not None else _OPTIONAL_TYPES[f.name]
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default)
    args = vars(parser.parse_args(argv))
    for split in ("train_split", "val_split"):
        if args[split] is not None and not args[split].exists():
            args[split] = None  # fall back to a held-out share of the data
    return TrainConfig(**args)


def main(argv: list[str] | None = None) -> None:
    summary = train(parse_args(argv))
    print(json.dumps({"best_epoch": summary["best_epoch"]}))


if __name__ == "__main__":
    main()
