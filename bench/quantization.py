"""Is the int8 encoder worth serving? Flickr8k val BLEU-4 / CIDEr-D (guided and unguided, the
whole served pipeline) and warm encoder latency, with the bundle's float32 ONNX encoder against
its int8 one (caption.model.encoder_int8), the same decoder behind both.

    python -m bench.quantization [--limit N]     (needs ../shared/flickr8k)

The rule from the performance issue: serve it only if val BLEU-4 drops by at most 0.3. Writes
bench/results/quantization.json. On a CPU without VNNI the int8 encoder is never served, and
this measures it anyway (its figures there say what saturation would cost).
"""

from __future__ import annotations

import argparse
import json

import torch

from bench.common import REPO, THREADS
from bench.encoder import _latency
from caption.evaluate import FLICKR, evaluate
from caption.model.cpu import reported_flags
from caption.model.loader import load_model
from caption.model.onnx_encoder import OnnxEncoder
from caption.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quantization")
    parser.add_argument("--limit", type=int, default=None, help="val images to score")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    model = load_model(Settings.from_env().model_dir)
    model.optimize()
    if model.onnx_encoder_file is None or model.onnx_encoder_int8_file is None:
        raise SystemExit("the bundle lacks the float32 or the int8 ONNX encoder")
    results: dict = {"cpu_features": reported_flags(), "threads": torch.get_num_threads()}
    for name, path in (("float32", model.onnx_encoder_file),
                       ("int8", model.onnx_encoder_int8_file)):
        model._serving_encoder = OnnxEncoder(path, torch.get_num_threads())
        pixels = torch.rand(1, 3, model.preprocess.size, model.preprocess.size) * 2 - 1
        figures = {"encoder_ms": _latency(model._serving_encoder, pixels, 50)}
        for guidance in (True, False):
            metrics, _ = evaluate(model, FLICKR / "images", [FLICKR / "captions.tsv"],
                                  FLICKR / "splits/val.txt", 3, args.limit, guidance)
            key = "guided" if guidance else "unguided"
            figures[f"val_bleu4_{key}"] = metrics["bleu4"]
            figures[f"val_cider_d_{key}"] = metrics["cider_d"]
        results[name] = figures
    drops = {key: round(results["float32"][f"val_bleu4_{key}"]
                        - results["int8"][f"val_bleu4_{key}"], 2)
             for key in ("guided", "unguided")}
    results["bleu4_drop"] = drops
    results["adopt"] = max(drops.values()) <= 0.3 and (
        results["int8"]["encoder_ms"] < results["float32"]["encoder_ms"])
    out = REPO / "bench" / "results" / "quantization.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
