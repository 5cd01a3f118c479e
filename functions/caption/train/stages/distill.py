"""`python -m caption.train.stages.distill`: fit a bundle's decoder to the int8 encoder's features.

The int8 encoder (encoder_int8.onnx) is faster, but its features differ from the
float32 encoder's by about 17 %, and the decoder trained on float32 features wrote captions that
scored 0.4 BLEU-4 lower on val without guidance. So the decoder is distilled (Hinton et al.,
2015): the decoder as trained, reading the float32 encoder's features, is the teacher; a copy
of it, the student, learns to give the same next-word distributions (KL divergence, along the
training captions) while reading the int8 encoder's features on every other batch and the
float32 encoder's on the others, so one decoder serves either encoder (hosts without VNNI run
the float32 one). Dropout stays off, as in caption.train.stages.scst: the student is exactly the
decoder beam search runs. One epoch at a fixed learning rate, chosen in advance; nothing is
selected on val.

`make train` runs it after the guidance threshold and before the ONNX exports (saving new
decoder weights drops them); it builds the two encoder graphs it needs in a scratch folder.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from caption.metrics.datasets import load_dataset, read_split
from caption.model.bundle import ModelInfo, read_config
from caption.model.loader import open_encoder
from caption.train.export.bundle import calibration_photos, export_encoder
from caption.train.networks.weights import load_torch_model, save_bundle
from caption.train.stages.features import extract
from caption.train.stages.trainer import batch_tensors, caption_batches, encode_captions

FLICKR = Path("../shared/flickr8k")


@dataclass
class DistillConfig:
    epochs: float = 1.0
    images_per_batch: int = 16  # with all of each image's captions
    learning_rate: float = 2e-5
    max_words: int = 20
    seed: int = 0


def distill(directory: Path, images: Path, captions: list[Path], train_split: Path,
            config: DistillConfig, version: str | None = None) -> dict:
    """Distil the bundle's decoder in place. Returns a summary (loss per tenth of the run)."""
    directory = Path(directory)
    model = load_torch_model(directory)
    names = read_split(train_split)
    data = load_dataset(images, captions).subset(names)
    with tempfile.TemporaryDirectory() as scratch:
        graphs = Path(scratch) / "bundle"
        shutil.copytree(directory, graphs)
        exported = export_encoder(graphs, calibration_photos(images, train_split))
        scratch_config = read_config(graphs).with_changes(graphs=exported)
        threads = torch.get_num_threads()
        # One photo per run, as the shipped bundle's features were computed.
        encoders = [open_encoder(graphs, scratch_config, precision, threads)
                    for precision in ("float32", "int8")]
        float32, int8 = (extract(encoder, model.preprocess, images, names, batch_size=1)
                         for encoder in encoders)

    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    vocab = model.vocabulary
    encoded = encode_captions(data, vocab, config.max_words)
    teacher = model.decoder.eval()
    student = copy.deepcopy(teacher).eval()  # dropout off: the decoder beam search runs
    optimizer = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
    per_epoch = len(caption_batches(encoded, config.images_per_batch, random.Random(0)))
    total = max(1, round(config.epochs * per_epoch))
    batches: list[list[int]] = []
    while len(batches) < total:  # whole shuffled epochs, cut to the share asked for
        batches += caption_batches(encoded, config.images_per_batch, rng)
    batches = batches[:total]
    losses: dict[str, list[float]] = {"int8": [], "float32": []}
    history, started = [], time.time()
    for step, batch in enumerate(tqdm(batches, desc="distilling", unit="batch"), start=1):
        tokens, image_index = batch_tensors(encoded, batch, vocab.pad)
        teacher_features = torch.from_numpy(float32[batch].astype(np.float32))
        source = "int8" if step % 2 else "float32"
        student_features = (torch.from_numpy(int8[batch].astype(np.float32))
                            if source == "int8" else teacher_features)
        words = tokens[:, 1:] != vocab.pad  # the positions that predict a real word
        with torch.no_grad():
            hidden, _ = teacher(teacher_features, tokens, image_index)
            target = F.log_softmax(teacher.logits(hidden[words]), dim=-1)
        hidden, _ = student(student_features, tokens, image_index)
        predicted = F.log_softmax(student.logits(hidden[words]), dim=-1)
        loss = F.kl_div(predicted, target, log_target=True, reduction="batchmean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[source].append(loss.item())
        if step % max(2, len(batches) // 10) == 0 or step == len(batches):
            # The mean divergence from the teacher since the last record, per encoder.
            history.append({"step": step, "elapsed_s": round(time.time() - started),
                            **{f"kl_{k}": float(f"{np.mean(v):.4g}")
                               for k, v in losses.items() if v}})
            losses = {k: [] for k in losses}

    info = model.info
    training = dict(info.training)
    training["distillation"] = {"from": f"{info.name}@{info.version}", "config": asdict(config),
                                "batches": len(batches), "history": history}
    # The metrics were measured with the old decoder: `make evaluate` measures the new one.
    save_bundle(directory, model.config.encoder["variant"], model.encoder,
                student.eval(), vocab, model.preprocess,
                ModelInfo(info.name, version or date.today().strftime("%Y.%m.%d"),
                          info.architecture, {}, training),
                labels=model.config.labels, classifier=model.classifier)
    return {"batches": len(batches), "history": history}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.distill",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--images", type=Path, default=FLICKR / "images")
    parser.add_argument("--captions", type=Path, nargs="+", default=[FLICKR / "captions.tsv"])
    parser.add_argument("--train-split", type=Path, default=FLICKR / "splits/train.txt")
    parser.add_argument("--version", default=None, help="default: today, as YYYY.MM.DD")
    defaults = DistillConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    config = DistillConfig(**{name: args.pop(name) for name in asdict(defaults)})
    summary = distill(args.pop("model"), config=config, **args)
    print(json.dumps(summary["history"][-1]))


if __name__ == "__main__":
    main()
