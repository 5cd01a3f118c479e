"""`python -m caption.train.stages.refine_captioner`: self-critical fine-tuning of the one
captioner (caption.train.stages.one_captioner) for CIDEr-D on Flickr8k.

Cross-entropy on three sources teaches the decoder everyday English, but beam search asks it
for whole sentences, and the image decoder it started from had been tuned for that
(caption.train.stages.scst) before cross-entropy undid part of it. This runs the same
self-critical training on Flickr8k's training photos, each read as serving reads it: its
cached regions and the detector's bag (caption.train.stages.photo_evidence). The step with the
best val BLEU-4 + CIDEr-D under beam search is kept, and written in the checkpoint format the
export reads (caption.train.export.captioner).

With `--everyday-every N`, every Nth batch is the uncaptioned COCO photos the cross-entropy
stage trained on (their regions and bags, photo_evidence's coco5k, less the photos it held
out), rewarded for naming what the detector found and not what it did not
(caption.train.stages.concept_reward). The last CHECK_PHOTOS of them are kept out and
captioned at each val check, so the history shows how the captions agree with the bags.

`--wrong-gender-penalty`, `--invented-class-penalty` and `--invented-place-penalty` take off a
Flickr8k sample's CIDEr-D for what its references do not say (caption.train.stages.truth_reward;
0 by default: docs/development.md has the runs that measured them).

    python -m caption.train.stages.refine_captioner --checkpoint RUN/best.pt \
        --evidence EVIDENCE --out RUN/refined.pt [--everyday-every 3]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict
from pathlib import Path

import torch

from caption.metrics.datasets import read_flickr_tsv
from caption.train.networks.concept_decoder import PhotoBags, load_checkpoint
from caption.train.stages.bags import (
    align_bags,
    detector_errors,
    pseudo_captions,
)
from caption.train.stages.concept_reward import ConceptReward, ConceptWeights, bag_figures
from caption.train.stages.one_captioner import (
    COCO_TEXT,
    FLICKR,
    Evidence,
    StageConfig,
    coco_sentences,
)
from caption.train.stages.scst import (
    EverydayPhotos,
    ScstConfig,
    add_config_options,
    parse_with_config,
    self_critical,
    take_config,
)

CHECK_PHOTOS = 100  # everyday photos captioned at each val check, never trained on here


def everyday_photos(evidence: Path, held_out: int, coco_text: Path, weights: ConceptWeights,
                    seed: int, check_photos: int = CHECK_PHOTOS) -> EverydayPhotos:
    """The uncaptioned COCO photos the cross-entropy stage trained on, rewarded by their bags
    and pseudo-captions; the last `check_photos` of them only checked."""
    coco = Evidence.load(evidence / "coco5k")
    kept = max(0, len(coco.names) - held_out)
    train_rows = range(max(0, kept - check_photos))
    check_rows = range(len(train_rows), kept)
    sentences = [s for caps in coco_sentences(coco_text).values() for s in caps]
    train_bags = [coco.bags[i] for i in train_rows]
    pseudo = pseudo_captions(train_bags, sentences, random.Random(seed))
    check_bags = {coco.names[i]: coco.bags[i] for i in check_rows}
    return EverydayPhotos(
        PhotoBags(coco.regions[list(train_rows)], train_bags),
        [coco.names[i] for i in train_rows],
        ConceptReward(dict(zip(coco.names, coco.bags, strict=True)),
                      {coco.names[i]: texts for i, texts in pseudo.items()}, weights),
        PhotoBags(coco.regions[list(check_rows)], list(check_bags.values())),
        list(check_bags), lambda predictions: bag_figures(predictions, check_bags))


def refine_captioner(checkpoint: Path, evidence: Path, out: Path, captions: Path,
                     config: ScstConfig, held_out: int = StageConfig.hold_out,
                     coco_text: Path = COCO_TEXT, weights: ConceptWeights | None = None,
                     check_photos: int = CHECK_PHOTOS, aligned_bags: bool = False) -> dict:
    """aligned_bags: each Flickr8k training photo's bag holds the classes its captions name,
    at a score serving names them at (caption.train.stages.bags.aligned_bag), as the
    cross-entropy stage's --aligned-bags; val is measured on the bags serving would see."""
    decoder, vocabulary, saved = load_checkpoint(checkpoint)
    train = Evidence.load(evidence / "flickr-train")
    val = Evidence.load(evidence / "flickr-val")
    references = read_flickr_tsv(captions)
    if aligned_bags:
        texts = [references[name] for name in train.names]
        train.bags = align_bags(train.bags, texts, detector_errors(train.bags, texts),
                                random.Random(config.seed + 1))
    weights = weights or ConceptWeights()
    everyday = (everyday_photos(evidence, held_out, coco_text, weights, config.seed,
                                check_photos) if config.everyday_every else None)
    summary = self_critical(decoder.train(), vocabulary, PhotoBags(train.regions, train.bags),
                            train.names, references, PhotoBags(val.regions, val.bags),
                            val.names, references, config, everyday)
    torch.save({**saved, "decoder": decoder.state_dict(),
                "self_critical": {"from": str(checkpoint), "config": asdict(config),
                                  "concept_reward": asdict(weights) if everyday else None,
                                  "aligned_bags": aligned_bags,
                                  "selected": summary["selected"],
                                  "history": summary["history"]}}, out)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.refine_captioner",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="the one-captioner stage's best.pt")
    parser.add_argument("--evidence", type=Path, required=True,
                        help="photo_evidence's folder (flickr-train, flickr-val)")
    parser.add_argument("--out", type=Path, required=True, help="the refined checkpoint")
    parser.add_argument("--captions", type=Path, default=FLICKR / "captions.tsv")
    parser.add_argument("--held-out", type=int, default=StageConfig.hold_out,
                        help="the last N of coco5k's photos, which the cross-entropy stage "
                             "held out (its --hold-out), are not trained on here either")
    parser.add_argument("--coco-text", type=Path, default=COCO_TEXT,
                        help="the sentences the everyday photos' pseudo-captions come from")
    parser.add_argument("--check-photos", type=int, default=CHECK_PHOTOS,
                        help="everyday photos captioned at each val check, not trained on")
    parser.add_argument("--aligned-bags", action="store_true",
                        help="each training photo's bag holds the classes its captions name, "
                             "at a score serving names them at (as one_captioner's option)")
    add_config_options(parser, ConceptWeights, help="caption.train.stages.concept_reward")
    config, args = parse_with_config(parser, argv)
    weights = take_config(ConceptWeights, args)
    summary = refine_captioner(config=config, weights=weights, **args)
    print(json.dumps(summary["selected"]))


if __name__ == "__main__":
    main()
