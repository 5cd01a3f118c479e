"""`python -m caption.train.stages.refine`: self-critical fine-tuning of an existing bundle's
decoder.

`make train` runs it after the cross-entropy stage; run alone, it refines a bundle in place of
retraining it (the shipped model was made this way from the cross-entropy bundle).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path

from caption.metrics.datasets import load_dataset, read_split
from caption.model.bundle import ModelInfo
from caption.train.networks.imagenet_labels import labels_section
from caption.train.networks.pretrained import pretrained_classifier
from caption.train.networks.weights import load_torch_model, save_bundle
from caption.train.stages.features import cached_features
from caption.train.stages.scst import ScstConfig, parse_with_config, self_critical

FLICKR = Path("../shared/flickr8k")


def refine(init: Path, out: Path, images: Path, captions: list[Path], train_split: Path,
           val_split: Path, work_dir: Path, config: ScstConfig, version: str | None = None
           ) -> dict:
    """version: the refined model's version (default: today), which S3 idempotency keys on."""
    model = load_torch_model(init)
    data = load_dataset(images, captions)
    train_names, val_names = read_split(train_split), read_split(val_split)
    variant = model.config.encoder["variant"]
    cache = work_dir / "features"
    train_features = cached_features(cache, model.encoder, variant, model.preprocess,
                                     images, train_names)
    val_features = cached_features(cache, model.encoder, variant, model.preprocess,
                                   images, val_names)
    decoder = model.decoder.train()
    summary = self_critical(decoder, model.vocabulary, train_features, train_names,
                            data.captions, val_features, val_names, data.captions, config)
    info = model.info
    labels, classifier = model.config.labels, model.classifier
    if classifier is None:  # a bundle from before labels: add the classifier and names
        labels = labels_section(model.vocabulary.words)
        classifier = pretrained_classifier(variant)
    training = dict(info.training)
    training["self_critical"] = {"from": f"{info.name}@{info.version}", "config": asdict(config),
                                 "selected": summary["selected"], "history": summary["history"]}
    metrics = {"val_cached_features": summary["selected"]}
    save_bundle(out, variant, model.encoder, decoder.eval(), model.vocabulary, model.preprocess,
                ModelInfo(info.name, version or date.today().strftime("%Y.%m.%d"),
                          info.architecture, metrics, training),
                labels=labels, classifier=classifier)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.refine",
                                     description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--init", type=Path, default=Path("layers/model"))
    parser.add_argument("--out", type=Path, default=Path(".cache/refined"))
    parser.add_argument("--images", type=Path, default=FLICKR / "images")
    parser.add_argument("--captions", type=Path, nargs="+", default=[FLICKR / "captions.tsv"])
    parser.add_argument("--train-split", type=Path, default=FLICKR / "splits/train.txt")
    parser.add_argument("--val-split", type=Path, default=FLICKR / "splits/val.txt")
    parser.add_argument("--work-dir", type=Path, default=Path(".cache"))
    parser.add_argument("--version", default=None, help="default: today, as YYYY.MM.DD")
    config, args = parse_with_config(parser, argv)
    summary = refine(config=config, **args)
    print(json.dumps(summary["selected"]))


if __name__ == "__main__":
    main()
