"""What this machine's CPU can do, where it decides how the model runs.

ONNX Runtime multiplies int8 matrices with VNNI instructions where the CPU has them (AVX-512
VNNI, AVX-VNNI, AMX). Without them, on AVX2 or AVX-512 alone, it uses an instruction whose 16-bit
sums of unsigned-by-signed byte products can saturate (ONNX Runtime's quantization guide says
so), which can cost accuracy. Lambda's x86 hosts vary, so the int8 encoder serves only where
VNNI is there; elsewhere the float32 one does.
"""

from __future__ import annotations

import functools
import platform

# Any of these gives int8 dot products that accumulate in 32 bits, without saturation.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# Reported by the benchmarks beside their figures.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags Linux reports for the first CPU; empty where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def has_vnni(flags: frozenset[str] | None = None) -> bool:
    """Whether int8 products run without saturation here (x86 with VNNI)."""
    flags = cpu_flags() if flags is None else flags
    return platform.machine() in ("x86_64", "AMD64") and any(f in flags for f in VNNI_FLAGS)


def reported_flags() -> list[str]:
    return [flag for flag in REPORTED_FLAGS if flag in cpu_flags()]
