"""Dynamic int8 weights for the decoder's graphs, computed the same on every CPU.

ONNX Runtime multiplies the quantized matrices (MatMulInteger: unsigned 8-bit activations,
signed weights) with instructions chosen by the CPU. With VNNI (AVX-512 VNNI, AVX-VNNI, AMX) or
on arm64 the products accumulate exactly in 32 bits; on AVX2 and AVX-512 without VNNI they pass
through a 16-bit pair sum (vpmaddubsw) that saturates when an activation near 255 meets two
8-bit weights near the ends of their range. Measured on the bundle 2026.12.06.3 with the
float32 encoder: a host emulated as Haswell (AVX2) ranked scikit-image's cat's captions
differently from a VNNI host, and scores moved in the fourth decimal. Weights within ±64
(ONNX Runtime's `reduce_range`) keep every pair sum within 16 bits (2 x 255 x 64 < 32,768), so
each product is exact on every CPU and every host serves, and measures, the same captions.
"""

from __future__ import annotations

from pathlib import Path


def quantize_weights(source: Path, target: Path, op_types: list[str] | None = None,
                     extra_options: dict | None = None) -> None:
    """`source`'s matrix weights as signed integers within ±64 (dynamic quantization) in
    `target`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, reduce_range=True,
                     op_types_to_quantize=op_types, extra_options=extra_options or {})
