"""Write the one captioner into a bundle: its checkpoint (model.safetensors, for export and
further training; never served), its two serving graphs and model.json.

- `decoder_start.onnx`: a photo's regions (the detector graph's `regions`) and its bag
  (caption.model.bag) -> the decoder's first state and its memory (regions and bag slots);
- `decoder_step.onnx`: one search step over that memory, ending in the search's ranking (the
  attention decoder's step, caption.train.export.bundle), so a step is one run.

Both have int8 weights within ±64 (caption.train.export.quantize: every CPU computes them
alike) and are stamped with the checkpoint's SHA-256. The detector (caption.train.export.detector)
and the labels head (caption.train.stages.label_head) are written by their own commands.

    python -m caption.train.export.captioner CHECKPOINT --model layers/model [--version V]

CHECKPOINT is what caption.train.stages.one_captioner (or its self-critical stage) wrote.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch
from torch import nn

from caption.model.bundle import (
    BundleConfig,
    BundleError,
    Graphs,
    read_config,
    write_config,
)
from caption.model.preprocess import Preprocessing
from caption.train.export.bundle import StepGraph, export_decoder_graphs
from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder
from caption.train.networks.weights import load_decoder, save_decoder

ARCHITECTURE = "centernet-mobilenetv3+concept-attention-lstm"
NAME = "one-captioner"
PROVENANCE = ("Flickr8k (Hodosh, Young & Hockenmaier, 2013; research use) photos and captions; "
              "Microsoft COCO (Lin et al., 2014; CC BY 4.0): coco-text's captions and 5,000 "
              "uncaptioned COCO train2014 photos (nsimsiri/Image-Captioning, data/resized2014) "
              "with captions retrieved from coco-text by what the detector found")


class _Start(nn.Module):
    """regions (1, R, C), concepts, counts, confidence (1, K) -> h, c, memory, keys."""

    def __init__(self, decoder: ConceptDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, regions, concepts, counts, confidence):
        photo = torch.ones(regions.shape[0], dtype=torch.bool)
        state = self.decoder.start_bag(regions, photo, concepts, counts, confidence)
        return state.h, state.c, state.regions, state.keys


def load_checkpoint(path: Path) -> tuple[ConceptDecoder, dict]:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    decoder = ConceptDecoder(ConceptConfig.from_json(saved["config"]))
    decoder.load_state_dict(saved["decoder"])
    return decoder.eval(), saved


def export_graphs(decoder: ConceptDecoder, directory: Path, sha: str) -> Graphs:
    config = decoder.concept_config.decoder
    sample = (torch.zeros(1, 100, config.feature_dim), torch.tensor([[1, 2]]),
              torch.tensor([[1, 1]]), torch.tensor([[3, 2]]))
    with torch.no_grad():
        state = decoder.start_bag(sample[0], torch.ones(1, dtype=torch.bool), *sample[1:])
        state = state.select(torch.zeros(2, dtype=torch.long))
    state = replace(state, mask=None)
    axes = {"regions": {0: "images", 1: "regions"}, "concepts": {0: "images", 1: "slots"},
            "counts": {0: "images", 1: "slots"}, "confidence": {0: "images", 1: "slots"},
            "h": {0: "images"}, "c": {0: "images"}, "memory": {0: "images", 1: "memory"},
            "keys": {0: "images", 1: "memory"}}
    return export_decoder_graphs(_Start(decoder), StepGraph(decoder), sample, state,
                                  config.vocab_size, directory, sha, int8_weights=True,
                                  start_names=(["regions", "concepts", "counts", "confidence"],
                                               axes))


def write_bundle(directory: Path, decoder: ConceptDecoder, vocabulary: list[str],
                 version: str, metrics: dict | None = None, training: dict | None = None,
                 name: str = NAME) -> BundleConfig:
    """The checkpoint, the decoder's graphs and model.json; a bundle's other sections and
    graphs (detector, labels) stay where model.json already has them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sha = save_decoder(directory, decoder)
    graphs = export_graphs(decoder, directory, sha)
    try:
        previous = read_config(directory)
    except BundleError:
        previous = None
    config = BundleConfig(
        name=name, version=version, architecture=ARCHITECTURE,
        encoder={"variant": "detector", "regions": "the detector graph's backbone regions"},
        decoder=decoder.concept_config.to_json(),
        preprocessing=previous.preprocessing if previous else Preprocessing(),
        vocabulary=list(vocabulary),
        graphs=replace(previous.graphs if previous else Graphs(),
                       decoder_start=graphs.decoder_start, decoder_step=graphs.decoder_step),
        weights_sha256=sha,
        labels=previous.labels if previous else None,
        detector=previous.detector if previous else None,
        decoding=previous.decoding if previous else None,
        metrics=metrics or {}, training=training or {})
    write_config(directory, config)
    return config


def save_weights(directory: Path, decoder: ConceptDecoder) -> BundleConfig:
    """New weights for a bundle, as further training leaves them: the checkpoint and
    model.json's weights_sha256; the graphs beside them are stale until exported again."""
    sha = save_decoder(directory, decoder)
    config = read_config(directory).with_changes(weights_sha256=sha)
    write_config(directory, config)
    return config


def export(checkpoint: Path, directory: Path, version: str | None = None) -> BundleConfig:
    """A training checkpoint (caption.train.stages.one_captioner's) as the bundle."""
    decoder, saved = load_checkpoint(checkpoint)
    return write_bundle(
        directory, decoder, saved["vocabulary"], version or date.today().isoformat(),
        metrics={"training": saved.get("record", {})},
        training={"provenance": PROVENANCE, "epoch": saved.get("epoch"),
                  "data": saved.get("summary", {}), "history": saved.get("history", [])})


def export_bundle_graphs(directory: Path) -> BundleConfig:
    """The decoder's graphs again, from the bundle's own model.safetensors."""
    directory = Path(directory)
    config = read_config(directory)
    graphs = export_graphs(load_decoder(directory), directory, config.weights_sha256)
    config = config.with_changes(graphs=replace(config.graphs,
                                                decoder_start=graphs.decoder_start,
                                                decoder_step=graphs.decoder_step))
    write_config(directory, config)
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.export.captioner",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--version", default=None)
    args = parser.parse_args(argv)
    config = export(args.checkpoint, args.model, args.version)
    print(json.dumps({"bundle": str(args.model), "version": config.version,
                      "weights_sha256": config.weights_sha256[:12]}))


if __name__ == "__main__":
    main()
