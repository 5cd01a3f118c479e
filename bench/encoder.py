"""The two encoder graphs that serve, and what each costs at start-up:

- onnx: the float32 graph (served where the CPU lacks int8 dot products);
- onnx_int8: the static int8 graph (served where it has VNNI, caption.model.cpu).

    python -m bench.encoder          (make bench runs it; prints one JSON line)

Also reports the relative error of the int8 regions against the float32 ones, and the CPU's
vector instruction sets, since Lambda's x86 hosts differ (AVX2 only, or AVX-512 with VNNI).
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from bench.common import photos
from caption.allocator import keep_freed_memory
from caption.images import decode_image
from caption.model.bundle import read_config
from caption.model.cpu import reported_flags
from caption.model.loader import ENCODER_GRAPHS, open_encoder
from caption.settings import Settings, inference_threads


def latency_ms(encoder, pixels: np.ndarray, repeat: int) -> float:
    for _ in range(3):
        encoder(pixels)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        encoder(pixels)
        samples.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(samples), 2)


def main() -> None:
    keep_freed_memory()  # as every entry point does (caption.runtime.load_service)
    directory = Settings.from_env().model_dir
    config = read_config(directory)
    size = config.preprocessing.size
    images = [decode_image(p, 10**8, size).image for p in photos()]
    pixels = np.stack([config.preprocessing(images[i % len(images)].rotate(7 * i))
                       for i in range(8)])
    threads = inference_threads()
    figures, regions = {}, {}
    for name, precision in (("onnx", "float32"), ("onnx_int8", "int8")):
        if getattr(config.graphs, ENCODER_GRAPHS[precision]) is None:
            continue
        started = time.perf_counter()
        encoder = open_encoder(directory, config, precision, threads)
        build_s = time.perf_counter() - started
        regions[name] = encoder(pixels).regions
        figures[name] = {"batch1_ms": latency_ms(encoder, pixels[:1], 20),
                         "batch8_per_image_ms": round(latency_ms(encoder, pixels, 5) / 8, 2),
                         "build_ms": round(1000 * build_s, 1)}
    if len(regions) == 2:
        a, b = regions["onnx_int8"], regions["onnx"]
        figures["onnx_int8"]["relative_error"] = round(
            float(np.linalg.norm(a - b) / np.linalg.norm(b)), 5)
    print(json.dumps({"encoder": figures, "cpu_features": reported_flags(),
                      "threads": threads}))


if __name__ == "__main__":
    main()
