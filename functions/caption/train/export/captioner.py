"""The one captioner into a bundle: one decoder that reads the photo's regions and its bag of
detected classes (caption.train.stages.one_captioner), in place of the image decoder, the
sentence writer and the routing between them.

    python -m caption.train.export.captioner --checkpoint RUN/best.pt --source layers/model \
        --model OUT

OUT gets the source bundle's encoder, classifier and detector (the captioner was trained on
what they read), the checkpoint's decoder and vocabulary in model.safetensors, and model.json's
`bag` section (how the bag it reads is built). It has no sentence writer. Then every graph is
exported (caption.train.export.bundle: the encoder, the decoder's start with the bag's inputs
and its step). Grounding is learnt again after, for the new vocabulary:
`python -m caption.train.stages.grounding --model OUT` (about three minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

from caption.metrics.subjects import CLASS_WORDS
from caption.model.bag import bag_section
from caption.model.bundle import CONFIG_FILE, BundleConfig, ModelInfo, read_config, write_config
from caption.model.vocabulary import Vocabulary
from caption.train.export.bundle import export_bundle
from caption.train.networks.concept_decoder import load_checkpoint
from caption.train.networks.weights import load_torch_model, save_bundle

NAME = "lite1-one-captioner"


def class_words(vocabulary: Vocabulary) -> dict[str, list[str]]:
    """Per COCO class, the one-word names of it the vocabulary holds: the words the training
    stage read a sentence's bag by (caption.metrics.subjects), so a class the detector did not
    find is not named in serving (caption.model.decoding)."""
    held = {name: [word for word in words if " " not in word and word in vocabulary.ids]
            for name, words in CLASS_WORDS.items()}
    return {name: words for name, words in held.items() if words}


def export_captioner(checkpoint: Path, source: Path, out: Path, version: str) -> BundleConfig:
    decoder, vocabulary, saved = load_checkpoint(checkpoint)
    base = load_torch_model(source)
    out.mkdir(parents=True, exist_ok=True)
    config = base.config
    if out.resolve() != Path(source).resolve():  # else it replaces the source's decoder
        for name in (config.graphs.encoder, config.graphs.detector, CONFIG_FILE):
            shutil.copy2(source / name, out / name)
    info = ModelInfo(NAME, version, config.architecture, {},
                     {**config.training, "one_captioner": {
                         "checkpoint_epoch": saved["epoch"], "record": saved["record"],
                         "data": saved["summary"],
                         "self_critical": {k: v for k, v in saved.get("self_critical", {}).items()
                                           if k != "history"}}})
    save_bundle(out, config.encoder["variant"], base.encoder, decoder, vocabulary,
                base.preprocess, info, labels=config.labels, classifier=base.classifier)
    written = read_config(out)
    graphs = dataclasses.replace(written.graphs, encoder_int8=None, concepts=None,
                                 writer_start=None, writer_step=None)
    write_config(out, written.with_changes(graphs=graphs, detector=config.detector,
                                           bag=bag_section(class_words(vocabulary))))
    for stale in ("encoder_int8.onnx", "concepts.onnx", "writer_start.onnx",
                  "writer_step.onnx", "writer.safetensors"):
        (out / stale).unlink(missing_ok=True)
    export_bundle(out, None)
    return read_config(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.export.captioner",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="the one-captioner stage's best.pt")
    parser.add_argument("--source", type=Path, default=Path("layers/model"),
                        help="the bundle whose encoder, classifier and detector it read")
    parser.add_argument("--model", type=Path, required=True, help="the bundle to write")
    parser.add_argument("--version", required=True, help="the new bundle's version")
    args = parser.parse_args(argv)
    export_captioner(args.checkpoint, args.source, args.model, args.version)
    print(f"{args.model}: now learn its grounding, for its vocabulary: "
          f"python -m caption.train.stages.grounding --model {args.model}")


if __name__ == "__main__":
    main()
