"""`python -m caption.train.stages.refine_captioner`: self-critical fine-tuning of the one
captioner (caption.train.stages.one_captioner) for CIDEr-D on Flickr8k.

Cross-entropy on three sources teaches the decoder everyday English, but beam search asks it
for whole sentences, and the image decoder it started from had been tuned for that
(caption.train.stages.scst) before cross-entropy undid part of it. This runs the same
self-critical training on Flickr8k's training photos, each read as serving reads it: its
cached regions and the detector's bag (caption.train.stages.photo_evidence). The step with the
best val BLEU-4 + CIDEr-D under beam search is kept, and written in the checkpoint format the
export reads (caption.train.export.captioner).

    python -m caption.train.stages.refine_captioner --checkpoint RUN/best.pt \
        --evidence EVIDENCE --out RUN/refined.pt
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from caption.metrics.datasets import read_flickr_tsv
from caption.train.networks.concept_decoder import PhotoBags, load_checkpoint
from caption.train.stages.one_captioner import FLICKR, Evidence
from caption.train.stages.scst import ScstConfig, parse_with_config, self_critical


def refine_captioner(checkpoint: Path, evidence: Path, out: Path, captions: Path,
                     config: ScstConfig) -> dict:
    decoder, vocabulary, saved = load_checkpoint(checkpoint)
    train = Evidence.load(evidence / "flickr-train")
    val = Evidence.load(evidence / "flickr-val")
    references = read_flickr_tsv(captions)
    summary = self_critical(decoder.train(), vocabulary, PhotoBags(train.regions, train.bags),
                            train.names, references, PhotoBags(val.regions, val.bags),
                            val.names, references, config)
    torch.save({**saved, "decoder": decoder.state_dict(),
                "self_critical": {"from": str(checkpoint), "config": asdict(config),
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
    config, args = parse_with_config(parser, argv)
    summary = refine_captioner(config=config, **args)
    print(json.dumps(summary["selected"]))


if __name__ == "__main__":
    main()
