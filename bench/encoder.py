"""Which CPU encoder path is fastest, and what each costs at start-up:

- eager: the bundle's EfficientNet-Lite in channels-last float32 (computes 'SAME' padding per call);
- onnx: the bundle's ONNX export of the fixed-size copy under ONNX Runtime (what every entry
  point serves where onnxruntime is installed and the CPU lacks VNNI, caption.model.onnx_encoder);
- onnx_int8: the bundle's static int8 form of that export (what they serve where the CPU has
  VNNI, caption.model.encoder_int8);
- fixed: that fixed-size, BatchNorm-folded copy in PyTorch (caption.model.fixed_size_encoder;
  served without onnxruntime);
- frozen: that copy traced and frozen by TorchScript (CAPTION_FREEZE_ENCODER=1, and the CLI on
  50 images or more, without onnxruntime);
- int8: PyTorch's x86 static quantization (FX graph mode) of the same fixed-size copy,
  calibrated on 32 real photos (not used: slower here).

    python -m bench.encoder          (make bench runs it; prints one JSON line)

Also reports the relative error of each path's features against eager, and the CPU's vector
instruction sets, since Lambda's x86 hosts differ (AVX2 only, or AVX-512 with VNNI).
"""

from __future__ import annotations

import json
import statistics
import time
import warnings

import torch

from bench.common import photos
from caption.allocator import keep_freed_memory
from caption.images import decode_image
from caption.model.cpu import reported_flags
from caption.model.fixed_size_encoder import (
    FixedSizeEncoder,
    fixed_size_encoder,
    frozen_encoder,
)
from caption.model.loader import load_model
from caption.model.onnx_encoder import load_onnx_encoder
from caption.settings import Settings, torch_threads


def _int8(encoder, size: int, calibration: torch.Tensor):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        fixed = FixedSizeEncoder(encoder, size).eval()
        prepared = prepare_fx(fixed, get_default_qconfig_mapping("x86"),
                              example_inputs=(calibration[:1],))
        for start in range(0, len(calibration), 8):
            prepared(calibration[start:start + 8])
        return convert_fx(prepared)


def _latency(fn, pixels: torch.Tensor, repeat: int) -> float:
    with torch.no_grad():
        for _ in range(3):
            fn(pixels)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn(pixels)
            samples.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(samples), 2)


def main() -> None:
    torch.set_num_threads(torch_threads())
    keep_freed_memory()  # as every entry point does (caption.runtime.load_service)
    model = load_model(Settings.from_env().model_dir)
    size = model.preprocess.size
    images = [decode_image(p, 10**8, size).image for p in photos()]
    calibration = torch.stack([model.preprocess(images[i % len(images)].rotate(7 * i))
                               for i in range(32)])
    one = calibration[:1].contiguous(memory_format=torch.channels_last)
    eight = calibration[:8].contiguous(memory_format=torch.channels_last)
    eager = model.encoder.eval().to(memory_format=torch.channels_last)
    paths = {"eager": (eager, 0.0)}
    for name, graph in (("onnx", model.onnx_encoder_file),
                        ("onnx_int8", model.onnx_encoder_int8_file)):
        if graph is None:
            continue
        started = time.perf_counter()
        exported = load_onnx_encoder(graph, torch.get_num_threads())
        if exported is not None:
            paths[name] = (exported, time.perf_counter() - started)
    started = time.perf_counter()
    fixed = fixed_size_encoder(model.encoder, size)
    paths["fixed"] = (fixed, time.perf_counter() - started)
    started = time.perf_counter()
    frozen = frozen_encoder(model.encoder, size)
    paths["frozen"] = (frozen, time.perf_counter() - started)
    started = time.perf_counter()
    int8 = _int8(model.encoder, size, calibration)
    paths["int8"] = (int8, time.perf_counter() - started)
    with torch.no_grad():
        reference = eager(eight)
    figures = {}
    for name, (fn, build_s) in paths.items():
        with torch.no_grad():
            error = float((fn(eight) - reference).norm() / reference.norm())
        figures[name] = {"batch1_ms": _latency(fn, one, 20),
                         "batch8_per_image_ms": round(_latency(fn, eight, 5) / 8, 2),
                         "build_ms": round(1000 * build_s, 1),
                         "relative_error": round(error, 5)}
    print(json.dumps({"encoder": figures, "cpu_features": reported_flags(),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
