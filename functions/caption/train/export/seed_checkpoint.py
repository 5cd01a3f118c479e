"""Read the Show-and-Tell checkpoint format of the Django app this project descends from, to
convert it into a bundle (`python -m caption.train.export seed SEED_DIR OUT`).

  encoder.pth     state dict: `resnet.*` (ResNet-152 without its classifier), `linear`
                  2048->256, `bn` BatchNorm1d(256)
  decoder.pth     state dict: `embed` (V, 256), 2-layer `lstm` 256->512, `linear` 512->V;
                  the image feature is the LSTM's first input
  id_to_word.pkl  a pickled {int: str} with <start>, <end>, <pad>, <unk>

Nothing here executes code from the files: the .pth files go through
`torch.load(weights_only=True)` and the pickle through an unpickler that resolves no classes
or functions at all, so the only things it can build are plain dicts, ints and strings.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from caption.model.bundle import ModelInfo
from caption.model.constraints import Constraints
from caption.model.loader import SEED_FILES
from caption.model.preprocess import Preprocessing
from caption.model.vocabulary import Vocabulary
from caption.train.networks.ranking import rank_with_log_probs
from caption.train.networks.resnet import resnet152_trunk

IMAGENET = Preprocessing(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class CheckpointError(Exception):
    """The files are not a seed checkpoint we can load safely."""


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise CheckpointError(f"id_to_word.pkl refers to {module}.{name}; only a plain dict of "
                              "ints to strings is accepted")


def read_id_to_word(data: bytes) -> list[str]:
    """The vocabulary in id order, from the pickle's bytes."""
    try:
        mapping = _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"id_to_word.pkl is not a readable pickle: {exc}") from None
    if not isinstance(mapping, dict) or not all(
            type(k) is int and type(v) is str for k, v in mapping.items()):
        raise CheckpointError("id_to_word.pkl must hold a dict of ints to strings")
    if sorted(mapping) != list(range(len(mapping))):
        raise CheckpointError("id_to_word.pkl ids must run 0..n-1 without gaps")
    return [mapping[i] for i in range(len(mapping))]


class SeedEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = resnet152_trunk()
        self.linear = nn.Linear(2048, 256)
        self.bn = nn.BatchNorm1d(256, momentum=0.01)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 256), the image's single feature vector."""
        return self.bn(self.linear(self.resnet(images).flatten(1)))


@dataclass
class SeedState:
    h: torch.Tensor  # (layers, B, hidden)
    c: torch.Tensor

    def select(self, index: torch.Tensor) -> SeedState:
        return SeedState(self.h[:, index], self.c[:, index])


class SeedDecoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int = 256, hidden_dim: int = 512,
                 num_layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_dim, vocab_size)

    def start(self, features: torch.Tensor) -> SeedState:
        """The image feature is the first LSTM input; what it predicts (<start>) is not used."""
        _, (h, c) = self.lstm(features[:, None])
        return SeedState(h, c)

    def step(self, tokens: torch.Tensor, state: SeedState):
        out, (h, c) = self.lstm(self.embed(tokens)[:, None], (state.h, state.c))
        return self.linear(out[:, 0]), None, SeedState(h, c)

    def log_probs(self, tokens: torch.Tensor, state: SeedState
                  ) -> tuple[torch.Tensor, SeedState]:
        logits, _, state = self.step(tokens, state)
        return torch.log_softmax(logits, dim=-1), state

    def rank(self, tokens: list[int], state: SeedState, sums: list[float], has_word: list[int],
             row_bias, constraints: Constraints, first: bool, k: int):
        """A search step's best candidates (caption.model.decoder.Decoder.rank)."""
        return rank_with_log_probs(self, tokens, state, sums, has_word, row_bias,
                                   constraints, first, k)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path.name} is not a weights-only state dict: {exc}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path.name} must hold a state dict")
    return state


@dataclass
class SeedModel:
    encoder: SeedEncoder
    decoder: SeedDecoder
    vocabulary: Vocabulary
    preprocess: Preprocessing
    info: ModelInfo


def load_seed_checkpoint(directory: Path) -> SeedModel:
    """The checkpoint's networks, to convert into a bundle (caption.train.export seed)."""
    directory = Path(directory)
    missing = [name for name in SEED_FILES if not (directory / name).exists()]
    if missing:
        raise CheckpointError(f"{directory} lacks {', '.join(missing)}")
    vocabulary = Vocabulary(read_id_to_word((directory / "id_to_word.pkl").read_bytes()))
    decoder_state = _state_dict(directory / "decoder.pth")
    if "embed.weight" not in decoder_state:
        raise CheckpointError("decoder.pth has no embed.weight")
    vocab_size, embed_dim = decoder_state["embed.weight"].shape
    hidden_dim = decoder_state["linear.weight"].shape[1]
    num_layers = sum(1 for k in decoder_state if k.startswith("lstm.weight_ih_l"))
    if vocab_size != len(vocabulary):
        raise CheckpointError(f"decoder.pth has {vocab_size} words, id_to_word.pkl "
                              f"{len(vocabulary)}")
    encoder = SeedEncoder()
    decoder = SeedDecoder(vocab_size, embed_dim, hidden_dim, num_layers)
    try:
        encoder.load_state_dict(_state_dict(directory / "encoder.pth"))
        decoder.load_state_dict(decoder_state)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights do not fit the Show-and-Tell layout: {exc}") from None
    info = ModelInfo(name="show-and-tell-seed", version=directory.name or "seed",
                     architecture="resnet152+lstm (seed checkpoint)")
    return SeedModel(encoder.eval(), decoder.eval(), vocabulary, IMAGENET, info)
