"""The seed-equivalent pipeline, for a side-by-side ratio: what this project replaces.

ResNet-152 encoder (random weights: speed does not depend on them) with Linear + BatchNorm to
256, a 2-layer LSTM 256->512 over a 10,000-word vocabulary, and the seed app's beam search of 3
over 20 steps: each beam is run through the LSTM on its own, and every (beam, word) candidate is
ranked in Python.
"""

from __future__ import annotations

import io
import json
import math
import sys

import torch
from PIL import Image

from bench.common import peak_rss_mb, percentiles, photos, timed
from caption.model.seed_checkpoint import IMAGENET, SeedDecoder, SeedEncoder
from caption.settings import torch_threads

VOCAB = 10_000
BEAM = 3
STEPS = 20
START = 1


@torch.no_grad()
def seed_caption(encoder: SeedEncoder, decoder: SeedDecoder, image: Image.Image) -> list:
    feature = encoder(IMAGENET(image)[None])
    _, state = decoder.lstm(feature[:, None])
    beams = [([START], 0.0, state)]
    for _ in range(STEPS):
        candidates = []
        for tokens, score, (h, c) in beams:  # one beam at a time, as the seed app did
            out, new_state = decoder.lstm(decoder.embed(torch.tensor([[tokens[-1]]])), (h, c))
            log_probs = torch.log_softmax(decoder.linear(out[0, 0]), dim=-1).tolist()
            for word, log_prob in enumerate(log_probs):
                candidates.append((score + log_prob, tokens + [word], new_state))
        candidates.sort(key=lambda c: c[0], reverse=True)  # every pair, in Python
        beams = [(tokens, score, s) for score, tokens, s in candidates[:BEAM]]
    return [(tokens, math.exp(score / len(tokens))) for tokens, score, _ in beams]


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(torch_threads())
    torch.manual_seed(0)
    encoder, decoder = SeedEncoder().eval(), SeedDecoder(VOCAB).eval()
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos()]
    counter = iter(range(10**9))

    def once():
        seed_caption(encoder, decoder, images[next(counter) % len(images)])

    once()
    print(json.dumps({"beam3": percentiles(timed(once, repeat)), "peak_rss_mb": peak_rss_mb(),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
