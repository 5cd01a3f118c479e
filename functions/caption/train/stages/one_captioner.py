"""Train one captioner on the detector's regions and the photo's bag of concepts, with
cross-entropy, resumably (stage 1 of the one-captioner rebuild; self-critical training follows).

What it learns from, per epoch (each a "unit": the memory the decoder starts from, and the
captions that describe it):
- **Flickr8k's training photos**, their five captions, regions and the detector's bag; on a
  share of them (`drop_regions`) the regions are withheld, so the decoder learns to speak from
  the bag alone as well as from pixels;
- **coco-text's sentences**, no photo: the learned "no photo" slot and a bag read from the
  sentence and corrupted as the detector errs (caption.train.stages.bags, rates measured on
  Flickr8k's training photos);
- **the 5,000 uncaptioned COCO photos** (their regions and bag), each with up to three
  coco-text sentences that name only what its bag holds (pseudo-captions, retrieved by bag).

Measured after every epoch, greedily: Flickr8k val (BLEU-4, CIDEr-D) and coco-dev, split by
photo id into a tuning half A and a reported half B. The epoch is chosen on val CIDEr-D plus
coco-dev A CIDEr-D; B is only reported. coco-dev is never trained on.

    python -m caption.train.stages.one_captioner --evidence DIR --out DIR [--resume]
        [--max-minutes 85]

DIR/evidence holds what caption.train.stages.photo_evidence wrote (flickr-train, flickr-val,
coco5k, coco-dev). The output folder gets checkpoint.pt (resumable), best.pt and history.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from caption.metrics.datasets import half_of, read_flickr_tsv
from caption.metrics.scoring import score_captions
from caption.model.bag import CONCEPT_IDS, Bag, photo_bag
from caption.model.vocabulary import Vocabulary
from caption.text import tokenize
from caption.train.networks.attention_decoder import DecoderConfig
from caption.train.networks.concept_decoder import (
    ConceptConfig,
    ConceptDecoder,
    bag_tensors,
    warm_start,
)
from caption.train.networks.weights import load_torch_model
from caption.train.stages.bags import (
    align_bags,
    detections,
    detector_errors,
    pseudo_captions,
    sentence_bag,
)
from caption.train.stages.trainer import optimise

FLICKR = Path("../shared/flickr8k")
COCO_TEXT = Path("../shared/coco-text/captions.tsv")
COCO_DEV = Path("../shared/coco-dev")
MAX_WORDS = 20


@dataclass
class StageConfig:
    evidence: Path
    out: Path
    epochs: int = 8
    max_minutes: float | None = None
    captions_per_batch: int = 96
    learning_rate: float = 8e-4
    lr_decay: float = 0.85
    min_word_count: int = 5
    drop_regions: float = 0.15
    text_share: float = 1.0  # the share of coco-text's sentences used per epoch
    attention_penalty: float = 0.5
    seed: int = 0
    resume: bool = False
    init_from: Path | None = None  # a bundle whose image decoder the decoder starts from
    # A checkpoint of this stage (best.pt) to go on from, on the same data and vocabulary.
    init_checkpoint: Path | None = None
    # Each caption's bag as serving would have to see it for the caption to be written: the
    # classes it names found at a score serving names them at (caption.train.stages.bags).
    aligned_bags: bool = False
    # The last N of the uncaptioned COCO photos are never trained on: the photos whose
    # sentence faults `caption.metrics.evaluate --photos` counts (faults need no references).
    hold_out: int = 300
    limit: int | None = None  # the first N photos/sentences of each source (smoke runs)
    hidden_dim: int = 512
    embed_dim: int = 256
    attention_dim: int = 256
    flickr_captions: Path = FLICKR / "captions.tsv"
    coco_text: Path = COCO_TEXT
    coco_dev_captions: Path = COCO_DEV / "captions.tsv"


@dataclass
class Evidence:
    """One photo set as photo_evidence cached it."""

    names: list[str]
    regions: np.ndarray  # (N, R, C) float16
    bags: list[Bag]

    @classmethod
    def load(cls, folder: Path, limit: int | None = None) -> Evidence:
        names = (folder / "names.txt").read_text(encoding="utf-8").split()
        peaks = np.load(folder / "peaks.npz")
        regions = np.load(folder / "regions.npy", mmap_mode="r")
        n = len(names) if limit is None else min(limit, len(names))
        bags = [photo_bag(detections(peaks["boxes"][i], peaks["scores"][i],
                                     peaks["classes"][i])) for i in range(n)]
        return cls(names[:n], np.asarray(regions[:n]), bags)


@dataclass
class Unit:
    photo: int  # row in the unit's evidence, -1: no photo
    source: str  # "flickr", "coco" or "text"
    bag: Bag
    captions: list[list[int]] = field(default_factory=list)


def coco_sentences(path: Path) -> dict[str, list[str]]:
    """coco-text by COCO image id."""
    by_photo: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            photo, text = line.split("\t", 1)
            by_photo.setdefault(photo, []).append(text.strip())
    return by_photo


class Stage:
    def __init__(self, config: StageConfig):
        self.config = config
        rng = random.Random(config.seed)
        ev = Path(config.evidence)
        limit = config.limit
        self.flickr = Evidence.load(ev / "flickr-train", limit)
        self.val = Evidence.load(ev / "flickr-val", limit)
        coco = Evidence.load(ev / "coco5k", limit)
        kept = max(0, len(coco.names) - config.hold_out)
        self.held_out = coco.names[kept:]
        self.coco = Evidence(coco.names[:kept], coco.regions[:kept], coco.bags[:kept])
        self.dev = Evidence.load(ev / "coco-dev", limit)
        self.sets = {"flickr": self.flickr, "coco": self.coco, "val": self.val, "dev": self.dev}
        flickr_captions = read_flickr_tsv(config.flickr_captions)
        self.val_refs = {n: flickr_captions[n] for n in self.val.names}
        self.dev_refs = {n: caps for n, caps in read_flickr_tsv(config.coco_dev_captions).items()
                         if n in set(self.dev.names)}
        text = coco_sentences(config.coco_text)
        if limit:
            text = dict(list(text.items())[:limit])
        train_captions = [flickr_captions[n] for n in self.flickr.names]
        self.errors = detector_errors(self.flickr.bags, train_captions)
        sentences = [s for caps in text.values() for s in caps]
        self.vocab = Vocabulary.build(
            (tokenize(t)[:MAX_WORDS] for t in [*sentences, *(c for cs in train_captions
                                                          for c in cs)]),
            config.min_word_count)
        encode = self._encoder()
        bags = self.flickr.bags
        if config.aligned_bags:
            lifting = random.Random(config.seed + 1)  # apart: the pseudo-captions stay as drawn
            bags = align_bags(bags, train_captions, self.errors, lifting)
        self.units = [Unit(i, "flickr", bag, [encode(c) for c in caps])
                      for i, (bag, caps) in enumerate(zip(bags, train_captions, strict=True))]
        pseudo = pseudo_captions(self.coco.bags, sentences, rng)
        self.units += [Unit(i, "coco", self.coco.bags[i], [encode(c) for c in found])
                       for i, found in pseudo.items()]
        self.text = [(s, [o for o in caps if o is not s]) for caps in text.values() for s in caps]
        self.summary = {"flickr_photos": len(self.flickr.names),
                        "coco_photos_with_pseudo_captions": len(pseudo),
                        "coco_photos": len(self.coco.names),
                        "coco_photos_held_out": len(self.held_out), "sentences": len(self.text),
                        "vocabulary": len(self.vocab), "detector_errors": self.errors.to_json()}
        print(json.dumps(self.summary))

    def _encoder(self):
        vocab = self.vocab
        return lambda text: vocab.encode(tokenize(text)[:MAX_WORDS])

    def epoch_units(self, rng: random.Random) -> list[Unit]:
        """Photo units, and this epoch's sentences with freshly corrupted bags."""
        encode = self._encoder()
        text = [t for t in self.text if rng.random() < self.config.text_share]
        aligned = self.config.aligned_bags
        units = [*self.units, *(Unit(-1, "text", sentence_bag(s, others, self.errors, rng,
                                                              aligned),
                                     [encode(s)]) for s, others in text)]
        rng.shuffle(units)
        return units

    def batches(self, units: list[Unit]) -> list[list[Unit]]:
        out, batch, size = [], [], 0
        for unit in units:
            batch.append(unit)
            size += len(unit.captions)
            if size >= self.config.captions_per_batch:
                out.append(batch)
                batch, size = [], 0
        return out + ([batch] if batch else [])

    def inputs(self, units: list[Unit], rng: random.Random | None):
        """Memory inputs for units (rng: drop regions at random; None: never)."""
        regions = np.zeros((len(units), *self.flickr.regions.shape[1:]), dtype=np.float32)
        photo = torch.zeros(len(units), dtype=torch.bool)
        for row, unit in enumerate(units):
            if unit.photo < 0:
                continue
            if rng is not None and rng.random() < self.config.drop_regions:
                continue
            regions[row] = self.sets[unit.source].regions[unit.photo]
            photo[row] = True
        return (torch.from_numpy(regions), photo, *bag_tensors([u.bag for u in units]))

    @torch.inference_mode()
    def greedy(self, decoder: ConceptDecoder, evidence: Evidence, source: str,
               photos: bool = True) -> dict[str, str]:
        decoder.eval()
        out = {}
        for start in range(0, len(evidence.names), 64):
            units = [Unit(i if photos else -1, source, evidence.bags[i])
                     for i in range(start, min(start + 64, len(evidence.names)))]
            state = decoder.start_bag(*self.inputs(units, None))
            tokens = torch.full((len(units),), self.vocab.start, dtype=torch.long)
            words = []
            for _ in range(MAX_WORDS):
                logits, _, state = decoder.step(tokens, state)
                tokens = logits.argmax(dim=-1)
                words.append(tokens)
            for row, unit in enumerate(units):
                out[evidence.names[unit.photo if photos else start + row]] = \
                    self.vocab.decode(torch.stack(words, dim=1)[row].tolist())
        decoder.train()
        return out

    def measure(self, decoder: ConceptDecoder) -> dict:
        val = score_captions(self.greedy(decoder, self.val, "val"), self.val_refs)
        dev = self.greedy(decoder, self.dev, "dev")
        halves = {half: {n: c for n, c in dev.items() if half_of(n) == half}
                  for half in ("a", "b")}
        result = {"val_bleu4": val["bleu4"], "val_cider_d": val["cider_d"]}
        for half, predictions in halves.items():
            if predictions:
                scores = score_captions(predictions, self.dev_refs)
                result[f"dev_{half}_cider_d"] = scores["cider_d"]
                result[f"dev_{half}_bleu4"] = scores["bleu4"]
        result["chosen_by"] = result["val_cider_d"] + result.get("dev_a_cider_d", 0.0)
        return result


def build_decoder(stage: Stage, config: StageConfig) -> ConceptDecoder:
    features = stage.flickr.regions.shape[-1]
    decoder_config = DecoderConfig(len(stage.vocab), features, config.embed_dim,
                                   config.hidden_dim, config.attention_dim, 0.5)
    return ConceptDecoder(ConceptConfig(decoder_config, len(CONCEPT_IDS) + 1))


def run(config: StageConfig) -> dict:
    torch.manual_seed(config.seed)
    stage = Stage(config)
    decoder = build_decoder(stage, config)
    if config.init_from is not None and not (config.resume and
                                             (Path(config.out) / "checkpoint.pt").exists()):
        source = load_torch_model(config.init_from)
        carried = warm_start(decoder, source.decoder, source.config.vocabulary,
                             stage.vocab.words)
        print(json.dumps({"warm_start": str(config.init_from), "words_carried": carried,
                          "vocabulary": len(stage.vocab)}))
    if config.init_checkpoint is not None and not (config.resume and
                                                   (Path(config.out) / "checkpoint.pt").exists()):
        saved = torch.load(config.init_checkpoint, weights_only=False)
        if saved["vocabulary"] != stage.vocab.words:
            raise SystemExit(f"{config.init_checkpoint} was trained on other data")
        decoder.load_state_dict(saved["decoder"])
        print(json.dumps({"goes_on_from": str(config.init_checkpoint),
                          "its_epoch": saved.get("epoch")}))
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.learning_rate,
                                  weight_decay=1e-4)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "held_out.txt").write_text("".join(f"{name}\n" for name in stage.held_out),
                                      encoding="utf-8")
    checkpoint = out / "checkpoint.pt"
    history: list[dict] = []
    best_score, first = -1.0, 1
    if config.resume and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["vocabulary"] != stage.vocab.words:
            raise SystemExit(f"{checkpoint} was trained on other data; remove it to restart")
        decoder.load_state_dict(saved["decoder"])
        optimizer.load_state_dict(saved["optimizer"])
        history, best_score, first = saved["history"], saved["best_score"], saved["epoch"] + 1
        print(f"resuming after epoch {saved['epoch']}")
    started = time.time()
    pad = stage.vocab.pad
    for epoch in range(first, config.epochs + 1):
        rng = random.Random(config.seed * 1000 + epoch)
        decoder.train()
        total = count = 0.0
        batches = stage.batches(stage.epoch_units(rng))
        for b, units in enumerate(batches):
            inputs = stage.inputs(units, rng)
            rows = [(slot, ids) for slot, unit in enumerate(units) for ids in unit.captions]
            captions = torch.full((len(rows), max(len(ids) for _, ids in rows)), pad,
                                  dtype=torch.long)
            for row, (_, ids) in enumerate(rows):
                captions[row, :len(ids)] = torch.tensor(ids)
            unit_index = torch.tensor([slot for slot, _ in rows])
            hiddens, alphas = decoder.forward_bag(*inputs, captions, unit_index)
            targets = captions[:, 1:]
            real = targets != pad
            loss = F.cross_entropy(decoder.logits(hiddens[real]), targets[real])
            attended = (alphas * real.float()[..., None]).sum(dim=1)
            slots = (inputs[2][unit_index] != 0).float()  # the bag's slots should be read
            bag_penalty = (((1.0 - attended[:, -slots.shape[1]:]).clamp(min=0) ** 2)
                           * slots).sum() / slots.sum().clamp(min=1)
            optimise(optimizer, decoder, loss + config.attention_penalty * bag_penalty)
            total += loss.item() * len(rows)
            count += len(rows)
            if b % 200 == 0:
                print(f"epoch {epoch} batch {b}/{len(batches)} loss {total / count:.3f} "
                      f"{time.time() - started:.0f}s", flush=True)
        record = {"epoch": epoch, "train_loss": round(total / max(count, 1), 4),
                  **stage.measure(decoder), "elapsed_s": round(time.time() - started)}
        history.append(record)
        print(json.dumps(record), flush=True)
        if record["chosen_by"] > best_score:
            best_score = record["chosen_by"]
            torch.save({"decoder": decoder.state_dict(), "vocabulary": stage.vocab.words,
                        "config": decoder.concept_config.to_json(), "epoch": epoch,
                        "record": record, "summary": stage.summary, "history": history},
                       out / "best.pt")
        for group in optimizer.param_groups:
            group["lr"] *= config.lr_decay
        torch.save({"epoch": epoch, "decoder": decoder.state_dict(),
                    "optimizer": optimizer.state_dict(), "history": history,
                    "best_score": best_score, "vocabulary": stage.vocab.words},
                   checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)
        (out / "history.json").write_text(json.dumps({"summary": stage.summary,
                                                      "history": history}, indent=1))
        if config.max_minutes and time.time() - started > 60 * config.max_minutes:
            print(f"time budget of {config.max_minutes} minutes spent: stopping")
            break
    return {"history": history, "best_score": best_score}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.one_captioner",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--evidence", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--drop-regions", type=float, default=0.15)
    parser.add_argument("--text-share", type=float, default=1.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="a bundle whose trained image decoder to start from (its weights, "
                             "and the rows of the words both vocabularies hold)")
    parser.add_argument("--init-checkpoint", type=Path, default=None,
                        help="this stage's best.pt to go on from (same data, same vocabulary)")
    parser.add_argument("--aligned-bags", action="store_true",
                        help="each caption's bag holds the classes it names at a score serving "
                             "names them at (caption.train.stages.bags.aligned_bag)")
    parser.add_argument("--learning-rate", type=float, default=StageConfig.learning_rate)
    parser.add_argument("--hold-out", type=int, default=StageConfig.hold_out,
                        help="the last N uncaptioned COCO photos are never trained on "
                             "(OUT/held_out.txt lists them)")
    parser.add_argument("--flickr-captions", type=Path, default=FLICKR / "captions.tsv",
                        help="IMAGE#N<TAB>caption for the photos of flickr-train and flickr-val")
    parser.add_argument("--coco-text", type=Path, default=COCO_TEXT,
                        help="ID<TAB>caption: sentences without photos")
    parser.add_argument("--coco-dev-captions", type=Path, default=COCO_DEV / "captions.tsv")
    args = parser.parse_args(argv)
    run(StageConfig(args.evidence, args.out, epochs=args.epochs, max_minutes=args.max_minutes,
                    limit=args.limit, drop_regions=args.drop_regions,
                    text_share=args.text_share, resume=args.resume,
                    init_from=args.init_from, learning_rate=args.learning_rate,
                    init_checkpoint=args.init_checkpoint, aligned_bags=args.aligned_bags,
                    hold_out=args.hold_out,
                    flickr_captions=args.flickr_captions, coco_text=args.coco_text,
                    coco_dev_captions=args.coco_dev_captions))


if __name__ == "__main__":
    main()
