"""Ours against the seed app's pipeline (bench/baseline.py), from image bytes to captions, in
alternating rounds of one process, on three kinds of photo:

- Flickr8k photos as ../shared/flickr8k holds them (224x224 JPEGs: the dataset's photos,
  resized), else scikit-image's photos re-encoded at that size;
- the same photos at Flickr8k's original size (500x375, upscaled and re-encoded: the originals
  are not here), which both pipelines must shrink;
- 12-megapixel phone-sized JPEGs (4032x3024): mosaics of 8x8 of those photos, so the content
  is real photography at a phone camera's resolution (nothing is downloaded).

Each round times every photo once through the seed pipeline and once through ours
(`CaptionService.caption_bytes`, as the API runs it, guidance on), alternating, so drift on a
shared machine hits both sides alike. Prints one JSON line.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time

import torch
from PIL import Image

from bench.baseline import SeedPipeline
from bench.common import REPO, peak_rss_mb, photos
from caption.runtime import load_service
from caption.service import CaptionOptions
from caption.settings import Settings

FLICKR_VAL = REPO.parent / "shared" / "flickr8k"
PHONE = (4032, 3024)


def flickr_sized(count: int) -> list[bytes]:
    split = FLICKR_VAL / "splits" / "val.txt"
    if split.exists():
        names = split.read_text().split()[:count]
        return [(FLICKR_VAL / "images" / name).read_bytes() for name in names]
    out = [_jpeg(Image.open(io.BytesIO(p)).convert("RGB").resize((224, 224)), 90)
           for p in photos()]
    return (out * count)[:count]


def original_sized(shipped: list[bytes]) -> list[bytes]:
    """Flickr8k's usual 500x375, made from the 224x224 photos (bicubic, JPEG quality 90)."""
    return [_jpeg(Image.open(io.BytesIO(p)).convert("RGB").resize(
        (500, 375), Image.Resampling.BICUBIC), 90) for p in shipped]


def phone_sized(tiles: list[bytes], count: int) -> list[bytes]:
    """4032x3024 mosaics of 8x8 real photos, JPEG quality 92 as phone cameras write them."""
    tile_w, tile_h = PHONE[0] // 8, PHONE[1] // 8
    photos = [Image.open(io.BytesIO(t)).convert("RGB").resize((tile_w, tile_h)) for t in tiles]
    out = []
    for n in range(count):
        mosaic = Image.new("RGB", PHONE)
        for i in range(64):
            mosaic.paste(photos[(n * 7 + i) % len(photos)], ((i % 8) * tile_w, (i // 8) * tile_h))
        out.append(_jpeg(mosaic, 92))
    return out


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def alternate(seed: SeedPipeline, ours, photos: list[bytes], rounds: int) -> dict:
    """Also where our time goes: decoding (with the shrink) and the model (preprocessing,
    encoder, labels, search), as CaptionResult reports them."""
    seed_ms, ours_ms, decode_ms, model_ms = [], [], [], []
    for _ in range(rounds):
        for data in photos:
            started = time.perf_counter()
            seed(data)
            seed_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            result = ours(data)
            ours_ms.append(1000 * (time.perf_counter() - started))
            decode_ms.append(result.decode_ms)
            model_ms.append(result.inference_ms)
    seed_p50, ours_p50 = statistics.median(seed_ms), statistics.median(ours_ms)
    return {"seed_p50_ms": round(seed_p50, 1), "ours_p50_ms": round(ours_p50, 1),
            "speedup": round(seed_p50 / ours_p50, 1), "samples": len(ours_ms),
            "ours_decode_p50_ms": round(statistics.median(decode_ms), 1),
            "ours_model_p50_ms": round(statistics.median(model_ms), 1)}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    service, timings = load_service(Settings.from_env())
    seed = SeedPipeline()
    options = CaptionOptions()

    def ours(data: bytes):
        return service.caption_bytes(data, options)

    small = flickr_sized(8)
    large = phone_sized(flickr_sized(64), 4)
    for data in (small[0], large[0]):  # warm both pipelines' kernels before timing
        seed(data)
        ours(data)
    original = original_sized(small)
    print(json.dumps({
        "flickr_sized": {"size": list(Image.open(io.BytesIO(small[0])).size),
                         **alternate(seed, ours, small, rounds)},
        "flickr_original_size": {"size": [500, 375], **alternate(seed, ours, original, rounds)},
        "phone_12mp": {"size": list(PHONE), "jpeg_kb": round(len(large[0]) / 1024),
                       **alternate(seed, ours, large, rounds)},
        "threads": torch.get_num_threads(),
        "ours_encoder": f"{timings['encoder']} {timings['encoder_precision']}",
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
