"""The one read of a photo that serves: the detector graph at the bundle's input size, which
gives the objects and the regions the labels head and the decoder read; and what it costs at
start-up. Also reports the CPU's vector instruction sets, since Lambda's x86 hosts differ
(AVX2 only, or AVX-512 with VNNI); every graph serves the same on both.

    python -m bench.reader          (make bench runs it; prints one JSON line)
"""

from __future__ import annotations

import json
import statistics
import time

from bench.common import cpu_features, photos
from caption.allocator import keep_freed_memory
from caption.images import decode_image
from caption.model.bundle import read_config
from caption.model.graphs import open_graph
from caption.model.objects import Detector
from caption.settings import Settings, inference_threads


def latency_ms(read, images, repeat: int) -> float:
    for _ in range(3):
        read(images)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        read(images)
        samples.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(samples), 2)


def main() -> None:
    keep_freed_memory()  # as every entry point does (caption.runtime.load_service)
    directory = Settings.from_env().model_dir
    config = read_config(directory)
    size = int(config.detector["input_size"])
    images = [decode_image(p, 10**8, size).image for p in photos()]
    batch = [images[i % len(images)].rotate(7 * i) for i in range(8)]
    threads = inference_threads()
    started = time.perf_counter()
    detector = Detector(open_graph(directory, config, "detector", threads), config.detector)
    build_ms = round(1000 * (time.perf_counter() - started), 1)
    figures = {"input_size": size, "batch1_ms": latency_ms(detector.read, batch[:1], 20),
               "batch8_per_image_ms": round(latency_ms(detector.read, batch, 5) / 8, 2),
               "build_ms": build_ms}
    print(json.dumps({"reader": figures, "cpu_features": cpu_features(), "threads": threads}))


if __name__ == "__main__":
    main()
