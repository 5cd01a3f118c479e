"""One step of ranking a search's candidates: each row's next-word log-probabilities plus the
row's running sum, with the search's constraints added as masks, best `k` per bank.

Both searches (caption.model.beam_search, caption.model.guidance) ask their decoder to `rank`;
a PyTorch decoder does it with `rank_with_log_probs`, and the ONNX decoder has the same
`rank_candidates` exported into its step graph, so that a step is one ONNX Runtime run: after a
run, the framework's code and data are out of the CPU's caches and every further PyTorch call
costs several times its usual time (measured: about 0.23 ms a step for these few operations).

Constraints are additive masks, 0 or -inf: adding 0 leaves a value exactly as it was, so the
ranking is the one indexed assignments of -inf would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch


def word_mask(words: frozenset[int] | set[int], size: int,
              device: torch.device | None = None) -> torch.Tensor:
    """(size,) bool, set at `words`."""
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    mask[sorted(words)] = True
    return mask


def as_bias(mask: torch.Tensor) -> torch.Tensor:
    """-inf where `mask` is set, 0 elsewhere."""
    return torch.zeros(mask.shape, device=mask.device).masked_fill_(mask, -math.inf)


@dataclass(frozen=True)
class Constraints:
    """What a search adds to the log-probabilities, the same at every step.

    banks: (banks, 2, V): what a row's totals get in each bank, by whether the row's caption
    already has the required word (index 1) or not (index 0). A plain beam search has one bank
    of zeros; the guided search has two (captions without the word, captions with it)."""

    words: torch.Tensor  # (V,) words never written
    first_words: torch.Tensor  # (V,) the same at the first step, which may not end the caption
    banks: torch.Tensor  # (banks, 2, V)
    after: torch.Tensor  # (V,) words barred from rows flagged `after` (see guidance)

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The same masks as NumPy arrays, made once per search: converting them at every step
        cost about 20 µs a step right after a decoder run (measured)."""
        return {name: getattr(self, name).detach().cpu().numpy()
                for name in ("words", "first_words", "banks", "after")}

    @classmethod
    def build(cls, banned: torch.Tensor, end: int, banks: torch.Tensor,
              after: torch.Tensor | None = None) -> Constraints:
        """banned: (V,) bool; banks: (banks, 2, V) additive; after: (V,) bool."""
        first = banned.clone()
        first[end] = True
        return cls(as_bias(banned), as_bias(first), banks,
                   as_bias(after if after is not None else torch.zeros_like(banned)))


def rank_candidates(log_probs: torch.Tensor, sums: torch.Tensor, word_bias: torch.Tensor,
                    after_rows: torch.Tensor, after_bias: torch.Tensor, has_word: torch.Tensor,
                    bank_bias: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log_probs (B, V), sums (B,), after_rows (B,) bool, has_word (B,) long -> the best `k`
    totals per bank and their flat indices (row * V + word), each (banks, k), best first.
    Pure tensor arithmetic: the ONNX decoder's step graph is exported from this function."""
    log_probs = log_probs + word_bias
    log_probs = log_probs + torch.where(after_rows[:, None], after_bias,
                                        torch.zeros_like(after_bias))
    totals = sums[:, None] + log_probs
    banks = totals[None] + bank_bias[:, has_word]
    return banks.flatten(1).topk(k, dim=1)


def rank_with_log_probs(decoder, tokens: list[int], state, sums: list[float],
                        has_word: list[int], after_rows: list[bool], constraints: Constraints,
                        first: bool, k: int):
    """A PyTorch decoder's `rank`: its log_probs, then rank_candidates. Returns the best sums
    and flat indices per bank as lists, and the next state."""
    device = constraints.words.device
    log_probs, state = decoder.log_probs(torch.tensor(tokens, device=device), state)
    top_sums, top_index = rank_candidates(
        log_probs, torch.tensor(sums, device=device),
        constraints.first_words if first else constraints.words,
        torch.tensor(after_rows, dtype=torch.bool, device=device), constraints.after,
        torch.tensor(has_word, dtype=torch.long, device=device), constraints.banks,
        min(k, log_probs.numel()))
    return top_sums.tolist(), top_index.tolist(), state
