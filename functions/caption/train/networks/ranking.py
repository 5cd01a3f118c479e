"""The ranking of a search step in PyTorch: what the exported step graph computes after the
decoder's log-softmax (caption.train.export), and what a PyTorch decoder's `rank` does, so the
searches (caption.model.search) run on a network being trained exactly as on the graphs."""

from __future__ import annotations

import torch

from caption.model.constraints import Constraints


def rank_candidates(log_probs: torch.Tensor, sums: torch.Tensor, word_bias: torch.Tensor,
                    row_bias: torch.Tensor, has_word: torch.Tensor, bank_bias: torch.Tensor,
                    k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log_probs (B, V), sums (B,), word_bias (V,), row_bias (B, V), has_word (B,) long -> the
    best `k` totals per bank and their flat indices (row * V + word), each (banks, k), best
    first. Pure tensor arithmetic: the decoder's step graph is exported from this function."""
    log_probs = log_probs + word_bias + row_bias
    totals = sums[:, None] + log_probs
    banks = totals[None] + bank_bias[:, has_word]
    return banks.flatten(1).topk(k, dim=1)


def rank_with_log_probs(decoder, tokens: list[int], state, sums: list[float],
                        has_word: list[int], row_bias, constraints: Constraints, first: bool,
                        k: int):
    """A PyTorch decoder's `rank` (caption.model.decoder.Decoder): its log_probs, then
    rank_candidates, on the device the decoder's weights are on."""
    device = next(decoder.parameters()).device

    def tensor(value, dtype=None):
        return torch.as_tensor(value, dtype=dtype, device=device)

    with torch.inference_mode():
        log_probs, state = decoder.log_probs(tensor(tokens, torch.long), state)
        words = constraints.first_words if first else constraints.words
        top_sums, top_index = rank_candidates(
            log_probs, tensor(sums, torch.float32), tensor(words),
            tensor(row_bias) if row_bias is not None else torch.zeros_like(log_probs),
            tensor(has_word, torch.long), tensor(constraints.banks),
            min(k, log_probs.numel()))
    return top_sums.tolist(), top_index.tolist(), state
