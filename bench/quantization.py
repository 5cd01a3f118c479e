"""Is the int8 encoder worth serving? Flickr8k val BLEU-4 / CIDEr-D (guided and unguided, the
whole served pipeline) and warm encoder latency, with the bundle's float32 ONNX encoder against
its int8 one (caption.train.export), the same decoder behind both.

    python -m bench.quantization [--limit N]     (needs ../shared/flickr8k)

The rule from the performance issue: serve it only if val BLEU-4 drops by at most 0.3. Writes
bench/results/quantization.json. On a CPU without VNNI the int8 encoder is never served, and
this measures it anyway (its figures there say what saturation would cost).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench.common import REPO, THREADS
from bench.encoder import latency_ms
from caption.metrics.evaluate import FLICKR, evaluate
from caption.model import cpu
from caption.model.loader import load_model
from caption.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quantization")
    parser.add_argument("--limit", type=int, default=None, help="val images to score")
    args = parser.parse_args()
    cpu.has_vnni = lambda flags=None: True  # measure the int8 graph whatever this CPU has
    results: dict = {"cpu_features": cpu.reported_flags(), "threads": THREADS}
    for name in ("float32", "int8"):
        model = load_model(Settings.from_env().model_dir, name == "int8", THREADS)
        if model.runtime["encoder"] != f"onnxruntime {name}":
            raise SystemExit(f"the bundle has no {name} encoder graph")
        size = model.preprocess.size
        pixels = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        figures = {"encoder_ms": latency_ms(model.encoder, pixels, 50)}
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
