"""Peak memory of decoding the largest images we accept, in this fresh process, as the service
does it (the allocator set up as at init), each in a process of its own: a 40-megapixel
half-transparent PNG (6324×6324 RGBA, about 150 KB on disk) and a 12-megapixel JPEG. Prints one
JSON line (peak MB above the process's baseline, and seconds)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import REPO, child_env, peak_rss_mb
from caption.allocator import keep_freed_memory
from caption.images import decode_image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (6324, 6324), (10, 200, 30, 128)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _jpeg() -> bytes:
    from bench.seed_comparison import flickr_sized, phone_sized

    return phone_sized(flickr_sized(64), 1)[0]


def decode_once(path: str) -> dict:
    """In a fresh process: the peak above what reading the file left, as the service decodes."""
    keep_freed_memory()
    data = Path(path).read_bytes()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    decode_image(data, 40_000_000, 224)
    return {"peak_above_baseline_mb": round(peak_rss_mb() - baseline, 1),
            "seconds": round(time.perf_counter() - started, 3), "file_kb": round(len(data) / 1024)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--decode":
        print(json.dumps(decode_once(sys.argv[2])))
        return
    figures = {}
    with tempfile.TemporaryDirectory() as work:
        for name, make in (("jpeg_12mp", _jpeg), ("png_40mp_rgba", _png)):
            path = Path(work) / name
            path.write_bytes(make())
            child = subprocess.run([sys.executable, "-m", "bench.decode_memory", "--decode",
                                    str(path)], cwd=REPO, env=child_env(), check=True,
                                   capture_output=True, text=True, timeout=300)
            figures[name] = json.loads(child.stdout)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
