"""Self-critical sequence training (Rennie et al., CVPR 2017) of a cross-entropy-trained decoder.

Cross-entropy teaches the decoder to predict the next human word; beam search then asks it for
whole sentences. SCST closes that gap: for each image it samples several captions, rewards each
with its CIDEr-D against the image's references, and raises the probability of the captions that
beat the others. The baseline is the mean reward of the image's other samples (Luo, 2020, "A
Better Variant of Self-Critical Sequence Training"), so no extra greedy decode is needed.

Runs on the cached encoder features (the encoder stays frozen) and picks the step with the best
val BLEU-4 + CIDEr-D under beam search, the way the bundle is scored.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from caption.metrics.cider import CiderD
from caption.metrics.gender import wrong_gender
from caption.metrics.scoring import score_captions
from caption.model.vocabulary import Vocabulary
from caption.text import tokenize
from caption.train.networks.attention_decoder import AttentionDecoder
from caption.train.networks.concept_decoder import BagBatch, start_input
from caption.train.stages.trainer import optimise, val_predictions
from caption.train.stages.truth_reward import TruthfulCider, TruthPenalties


@dataclass
class ScstConfig:
    # Measured on Flickr8k val (history in the shipped bundle): val scores peak about half an
    # epoch in at this learning rate and fall after it while the sampled reward keeps rising, so
    # one epoch with frequent checks; 1.5e-5 had gained nothing by half an epoch.
    epochs: float = 1.0  # fractions allowed: the run stops after that share of an epoch
    samples_per_image: int = 5
    images_per_batch: int = 32
    learning_rate: float = 5e-5
    max_words: int = 16
    evaluate_every: int = 16  # batches between val checks
    average_best: int = 4  # also try the mean of the k best checkpoints' weights (0: off)
    max_minutes: float | None = None
    # Checks on the first N val photos (None: all): beam search in PyTorch over a large
    # vocabulary takes a minute per 250 photos on 2 cores, so frequent checks need fewer.
    val_limit: int | None = None
    # With uncaptioned everyday photos (EverydayPhotos): every Nth batch is theirs (0: none).
    everyday_every: int = 0
    # Taken off a Flickr8k sample's CIDEr-D where it names what its references do not: the
    # other gender, a COCO class, a place (caption.train.stages.truth_reward; 0: not charged).
    wrong_gender_penalty: float = 0.0
    invented_class_penalty: float = 0.0
    invented_place_penalty: float = 0.0
    seed: int = 0


def add_config_options(parser, config_class, kinds: dict[str, type] | None = None,
                       help: str | None = None) -> None:
    """One option per field of the dataclass `config_class` (--max-minutes for max_minutes),
    typed as its default is, or as `kinds` says where the default is None."""
    for f in fields(config_class):
        kind = (kinds or {}).get(f.name, type(f.default))
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default,
                            help=help)


def take_config(config_class, args: dict):
    """The `config_class` that add_config_options' options give, taken out of `args`."""
    return config_class(**{f.name: args.pop(f.name) for f in fields(config_class)})


def parse_with_config(parser, argv: list[str] | None) -> tuple[ScstConfig, dict]:
    """`parser`'s arguments plus one option per ScstConfig field (--max-minutes, --val-limit,
    ...): the ScstConfig they give, and the rest of the arguments by name."""
    add_config_options(parser, ScstConfig, {"max_minutes": float, "val_limit": int})
    args = vars(parser.parse_args(argv))
    return take_config(ScstConfig, args), args


def sample_captions(decoder: AttentionDecoder, features: torch.Tensor, vocab: Vocabulary,
                    samples: int, max_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample `samples` captions per image from the decoder's own distribution, with gradients.
    features: (B, R, C) regions, or a BagBatch for a decoder that reads bags.

    Returns token ids (B * samples, T), padded with <pad> after <end>, and the log-probability
    of each chosen token (same shape, zero after <end>).
    """
    regions = features.features if isinstance(features, BagBatch) else features
    images, device = regions.shape[0], regions.device
    rows = images * samples
    state = decoder.start(features).select(
        torch.arange(images, device=device).repeat_interleave(samples))
    tokens = torch.full((rows,), vocab.start, dtype=torch.long, device=device)
    alive = torch.ones(rows, dtype=torch.bool, device=device)
    banned = torch.tensor([vocab.pad, vocab.start, vocab.unk], device=device)
    chosen, log_probs = [], []
    for step in range(max_words + 1):
        logits, _, state = decoder.step(tokens, state)
        logits = logits.index_fill(1, banned, -math.inf)
        if step == 0:
            logits[:, vocab.end] = -math.inf  # an empty caption describes nothing
        if step == max_words:
            logits = torch.full_like(logits, -math.inf).index_fill(
                1, torch.tensor([vocab.end], device=logits.device), 0.0)
        step_log_probs = torch.log_softmax(logits, dim=-1)
        tokens = torch.multinomial(step_log_probs.detach().exp(), 1).squeeze(1)
        picked = step_log_probs.gather(1, tokens[:, None]).squeeze(1)
        chosen.append(torch.where(alive, tokens, torch.full_like(tokens, vocab.pad)))
        log_probs.append(picked * alive)
        alive = alive & (tokens != vocab.end)
        if not alive.any():
            break
    return torch.stack(chosen, 1), torch.stack(log_probs, 1)


@dataclass
class EverydayPhotos:
    """Photos without human captions (caption.train.stages.concept_reward): sampled for every
    `everyday_every`th batch and rewarded by `reward.scores((photo, words) pairs)`; at each val
    check, `check(predictions)` scores beam-search captions of `check_names` (photos kept out
    of training) into figures the history records."""

    features: Any  # PhotoBags
    names: list[str]
    reward: Any
    check_features: Any
    check_names: list[str]
    check: Callable[[dict[str, str]], dict]


class _Shuffled:
    """Batches of row indices, reshuffled after each pass."""

    def __init__(self, size: int, batch: int, rng: random.Random):
        self.size, self.batch, self.rng, self.order = size, batch, rng, []

    def next(self) -> list[int]:
        if not self.order:
            self.order = list(range(self.size))
            self.rng.shuffle(self.order)
        picked, self.order = self.order[:self.batch], self.order[self.batch:]
        return sorted(picked)


def _words(ids: list[int], vocab: Vocabulary) -> list[str]:
    return vocab.decode(ids).split()


def _selection_score(metrics: dict) -> float:
    """One number to pick the step by: BLEU-4 and CIDEr-D are both what the bundle is judged on."""
    return metrics["bleu4"] + metrics["cider_d"]


def self_critical(decoder: AttentionDecoder, vocab: Vocabulary,
                  train_features: np.ndarray, train_names: list[str],
                  train_captions: dict[str, list[str]],
                  val_features: np.ndarray, val_names: list[str],
                  val_captions: dict[str, list[str]], config: ScstConfig,
                  everyday: EverydayPhotos | None = None) -> dict:
    """Fine-tune `decoder` in place (on a GPU when there is one); it ends on the CPU holding the
    best val weights. Returns the history. The step is chosen on val alone: `everyday`'s
    check figures are recorded beside it."""
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    decoder.to(device)
    cider = CiderD({n: [tokenize(c) for c in train_captions[n]] for n in train_names})
    penalties = TruthPenalties(config.wrong_gender_penalty, config.invented_class_penalty,
                               config.invented_place_penalty)
    captioned_reward = (TruthfulCider(cider, {n: train_captions[n] for n in train_names},
                                      penalties) if penalties else cider)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.learning_rate)
    # Dropout stays off: the policy improved here is exactly the one beam search runs.
    decoder.eval()

    checked = val_names[:config.val_limit]
    mixing = everyday is not None and config.everyday_every > 0

    def evaluate(step: int, epoch: float, reward: float | None, **rewards: float) -> dict:
        predictions = val_predictions(decoder, val_features, checked, vocab, 3)
        references = {n: val_captions[n] for n in checked}
        metrics = {**score_captions(predictions, references),
                   "wrong_gender": wrong_gender(predictions, references)["wrong_gender"]}
        if mixing:
            metrics["everyday"] = everyday.check(val_predictions(
                decoder, everyday.check_features, everyday.check_names, vocab, 3))
        record = {"step": step, "epoch": round(epoch, 2), "mean_reward": reward, **rewards,
                  **metrics, "elapsed_s": round(time.time() - started)}
        print(record, flush=True)
        return record

    started = time.time()
    history = [evaluate(0, 0.0, None)]
    best = {"score": _selection_score(history[0]), "record": history[0],
            "weights": {k: v.detach().cpu().clone() for k, v in decoder.state_dict().items()}}
    checkpoints: list[tuple[float, dict]] = []  # (selection score, weights) of every check
    batches_per_epoch = math.ceil(len(train_names) / config.images_per_batch)
    total_batches = int(config.epochs * batches_per_epoch)
    sources = [(train_features, train_names, captioned_reward,
                _Shuffled(len(train_names), config.images_per_batch, rng))]
    if mixing:
        if config.everyday_every < 2:
            raise ValueError("everyday_every must be 2 or more: captioned batches come between")
        # The epoch still counts captioned batches: everyday ones come on top of them.
        total_batches += total_batches // (config.everyday_every - 1)
        sources.append((everyday.features, everyday.names, everyday.reward,
                        _Shuffled(len(everyday.names), config.images_per_batch, rng)))
    rewards_seen: tuple[list[float], list[float]] = ([], [])  # captioned, everyday
    captioned = 0
    for step in range(1, total_batches + 1):
        from_everyday = len(sources) > 1 and step % config.everyday_every == 0
        captioned += not from_everyday
        features_of, names_of, reward, batches = sources[int(from_everyday)]
        batch = batches.next()
        features = start_input(features_of[batch]).to(device)
        names = [names_of[i] for i in batch]
        tokens, log_probs = sample_captions(decoder, features, vocab, config.samples_per_image,
                                            config.max_words)
        rewards = torch.tensor(reward.scores(
            (names[row // config.samples_per_image], _words(ids, vocab))
            for row, ids in enumerate(tokens.tolist())), device=device)
        grouped = rewards.view(-1, config.samples_per_image)
        # Each sample is judged against the mean of its image's other samples.
        baseline = (grouped.sum(1, keepdim=True) - grouped) / (config.samples_per_image - 1)
        advantage = (grouped - baseline).flatten()
        mask = (log_probs != 0).float()
        loss = -(advantage[:, None] * log_probs * mask).sum() / mask.sum()
        optimise(optimizer, decoder, loss)
        rewards_seen[int(from_everyday)].append(rewards.mean().item())
        out_of_time = (config.max_minutes is not None
                       and time.time() - started > 60 * config.max_minutes)
        if step % config.evaluate_every == 0 or step == total_batches or out_of_time:
            everyday_reward = ({"mean_everyday_reward": round(float(np.mean(rewards_seen[1])), 4)}
                               if rewards_seen[1] else {})
            record = evaluate(step, captioned / batches_per_epoch,
                              round(float(np.mean(rewards_seen[0])), 4), **everyday_reward)
            for seen in rewards_seen:
                seen.clear()
            history.append(record)
            weights = {k: v.detach().cpu().clone() for k, v in decoder.state_dict().items()}
            checkpoints.append((_selection_score(record), weights))
            if _selection_score(record) > best["score"]:
                best = {"score": _selection_score(record), "record": record, "weights": weights}
        if out_of_time:
            print(f"time budget of {config.max_minutes} minutes spent: stopping", flush=True)
            break
    if config.average_best > 1 and len(checkpoints) >= config.average_best:
        # Averaging the weights of the best few checkpoints smooths out the step-to-step noise
        # of policy-gradient updates; kept only if it measures better.
        top = sorted(checkpoints, key=lambda c: c[0], reverse=True)[:config.average_best]
        decoder.load_state_dict({k: torch.stack([w[k].float() for _, w in top]).mean(0)
                                 for k in top[0][1]})
        record = {**evaluate(len(history), -1.0, None), "averaged_checkpoints": len(top)}
        history.append(record)
        if _selection_score(record) > best["score"]:
            best = {"score": _selection_score(record), "record": record,
                    "weights": {k: v.detach().cpu().clone()
                                for k, v in decoder.state_dict().items()}}
    decoder.cpu()
    decoder.load_state_dict(best["weights"])
    return {"selected": best["record"], "history": history}
