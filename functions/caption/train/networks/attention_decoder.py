"""LSTM decoder with soft attention over the encoder's regions (Xu et al., 2015, "Show, Attend
and Tell"), trimmed to the parts that pay off on Flickr8k-sized data.

Each step attends over the 7x7 feature map, gates the context by the hidden state, and feeds
[word embedding, context] to one LSTM cell.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from caption.model.constraints import Constraints
from caption.train.networks.ranking import rank_with_log_probs


@dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int
    feature_dim: int = 1280
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.5

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class DecoderState:
    """Tensors for the PyTorch decoder; NumPy arrays for the ONNX one (caption.model.decoder),
    which indexes them the same way."""

    h: torch.Tensor  # (B, hidden)
    c: torch.Tensor  # (B, hidden)
    regions: torch.Tensor  # (B, R, hidden): projected features, attended over
    keys: torch.Tensor  # (B, R, attention): regions' half of the attention score, computed once
    # (B, R), added to the attention scores: -1e4 where a training batch pads a row's memory
    # (caption.train.networks.concept_decoder); None where nothing is padded, as in a search.
    mask: torch.Tensor | None = None

    def select(self, index: torch.Tensor | list[int]) -> DecoderState:
        """Keep the rows in `index` (beam search reorders and duplicates hypotheses). One
        image's regions stay one row, broadcast over its beams, instead of being copied for
        every beam at every step."""
        if self.regions.shape[0] == 1:
            return DecoderState(self.h[index], self.c[index], self.regions, self.keys,
                                self.mask)
        return DecoderState(self.h[index], self.c[index], self.regions[index], self.keys[index],
                            None if self.mask is None else self.mask[index])


class AttentionDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        hidden, attention = config.hidden_dim, config.attention_dim
        self.project = nn.Sequential(nn.Linear(config.feature_dim, hidden), nn.ReLU())
        self.init_h = nn.Linear(hidden, hidden)
        self.init_c = nn.Linear(hidden, hidden)
        self.attend_regions = nn.Linear(hidden, attention)
        self.attend_hidden = nn.Linear(hidden, attention)
        self.attend_score = nn.Linear(attention, 1)
        self.gate = nn.Linear(hidden, hidden)
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.cell = nn.LSTMCell(config.embed_dim + hidden, hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(hidden, config.vocab_size)

    def start(self, features: torch.Tensor) -> DecoderState:
        """features: (B, R, feature_dim) encoder regions."""
        regions = self.dropout(self.project(features))
        mean = regions.mean(dim=1)
        return DecoderState(torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)),
                            regions, self.attend_regions(regions))

    def advance(self, tokens: torch.Tensor, state: DecoderState
                ) -> tuple[torch.Tensor, torch.Tensor, DecoderState]:
        """One word in; the new hidden state and this step's attention weights out."""
        scores = self.attend_score(
            torch.tanh(state.keys + self.attend_hidden(state.h)[:, None])).squeeze(-1)
        if state.mask is not None:
            scores = scores + state.mask
        alpha = torch.softmax(scores, dim=1)  # (B, R)
        context = torch.matmul(alpha[:, None], state.regions).squeeze(1)  # broadcasts one image
        context = context * torch.sigmoid(self.gate(state.h))
        h, c = self.cell(torch.cat([self.embed(tokens), context], dim=1), (state.h, state.c))
        return h, alpha, DecoderState(h, c, state.regions, state.keys, state.mask)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))

    def step(self, tokens: torch.Tensor, state: DecoderState
             ) -> tuple[torch.Tensor, torch.Tensor, DecoderState]:
        """One word in, logits for the next word and attention weights out."""
        h, alpha, state = self.advance(tokens, state)
        return self.logits(h), alpha, state

    def log_probs(self, tokens: torch.Tensor, state: DecoderState
                  ) -> tuple[torch.Tensor, DecoderState]:
        """One word in, the next word's log-probabilities (what beam search ranks) out."""
        logits, _, state = self.step(tokens, state)
        return torch.log_softmax(logits.float(), dim=-1), state

    def rank(self, tokens: list[int], state: DecoderState, sums: list[float], has_word: list[int],
             row_bias, constraints: Constraints, first: bool, k: int):
        """A search step's best candidates (caption.model.decoder.Decoder.rank)."""
        return rank_with_log_probs(self, tokens, state, sums, has_word, row_bias,
                                   constraints, first, k)

    def forward(self, features: torch.Tensor, captions: torch.Tensor,
                image_index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: captions (B, T) start with <start>; row i describes image
        `image_index[i]` of `features` (default: image i). Returns the hidden states that
        predict positions 1..T-1 (B, T-1, hidden) and every step's attention weights.

        The vocabulary projection is left to the caller, who applies it once to the non-padding
        positions only: it is the largest matrix product of a step, so batching it pays.
        """
        state = self.start(features)  # once per image, however many captions it has
        if image_index is not None:
            state = state.select(image_index)
        return self.teacher_force(state, captions)

    def teacher_force(self, state: DecoderState, captions: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed captions (B, T) word by word from `state` (one row per caption): the hidden
        states that predict positions 1..T-1 (B, T-1, hidden) and every step's attention."""
        hiddens, alphas = [], []
        for t in range(captions.shape[1] - 1):
            h, alpha, state = self.advance(captions[:, t], state)
            hiddens.append(h)
            alphas.append(alpha)
        return torch.stack(hiddens, dim=1), torch.stack(alphas, dim=1)
