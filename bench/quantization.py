"""Is dynamic int8 quantization of the decoder worth it? Val BLEU-4 and warm beam-3 latency,
float32 against int8 (torch.ao dynamic quantization of the decoder's Linear and LSTM layers;
the encoder is convolutional and dynamic quantization does not apply to it).

    python -m bench.quantization [--limit N]     (needs ../shared/flickr8k)

The rule from the performance issue: adopt it only if val BLEU-4 drops by less than 0.3.
"""

from __future__ import annotations

import argparse
import json

import torch

from bench.common import REPO, THREADS, caption_latency
from caption.evaluate import FLICKR, evaluate
from caption.model.bundle import load_bundle
from caption.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quantization")
    parser.add_argument("--limit", type=int, default=None, help="val images to score")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    model_dir = Settings.from_env().model_dir
    results = {}
    for name, int8 in (("float32", False), ("int8_decoder", True)):
        model = load_bundle(model_dir, int8_decoder=int8)
        metrics, _ = evaluate(model, FLICKR / "images", [FLICKR / "captions.tsv"],
                              FLICKR / "splits/val.txt", 3, args.limit)
        results[name] = {"val_bleu4": metrics["bleu4"], "val_cider_d": metrics["cider_d"],
                         "beam3": caption_latency(model, 3, 30)}
    results["bleu4_drop"] = round(results["float32"]["val_bleu4"]
                                  - results["int8_decoder"]["val_bleu4"], 2)
    results["adopt"] = results["bleu4_drop"] < 0.3 and (
        results["int8_decoder"]["beam3"]["p50_ms"] < results["float32"]["beam3"]["p50_ms"])
    out = REPO / "bench" / "results" / "quantization.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
