"""Dynamic int8 quantization of the decoder, applied at load time.

Beam search runs the decoder on only a few rows (the beams), so each step is bound by reading
its weights from memory, not by arithmetic: int8 weights are a quarter of the bytes. Figures
from `python -m bench.quantization` (Flickr8k val, beam 3, 2 threads) are in the README. The
encoder is convolutional; dynamic quantization does not apply to it.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def quantize_decoder(decoder: nn.Module) -> nn.Module:
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization warns that it will move to torchao; the pinned torch has it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(decoder, {nn.Linear, nn.LSTMCell}, dtype=torch.qint8)
